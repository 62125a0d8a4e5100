"""One message catalog for the portal, in Spanish (the bank guides' words) and English."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("es", "en")
DEFAULT = "es"

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (Spanish, English)
    "app.title": ("Banca en línea", "Online banking"),
    "nav.home": ("Inicio", "Home"),
    "nav.activate": ("Activar token", "Activate token"),
    "nav.operations": ("Operaciones", "Operations"),
    "nav.sessions": ("Sesiones", "Sessions"),
    "nav.logout": ("Salir", "Log out"),
    "lang.switch": ("English", "Español"),
    "login.title": ("Acceso a clientes", "Customer access"),
    "login.username": ("Usuario", "Username"),
    "login.password": ("Contraseña", "Password"),
    "login.submit": ("Ingresar", "Log in"),
    "login.wrong": (
        "El usuario o la contraseña no es correcto.",
        "The username or the password is not correct.",
    ),
    "login.throttled": (
        "Demasiados intentos. Intente de nuevo en unos minutos.",
        "Too many attempts. Try again in a few minutes.",
    ),
    "code.title": ("Código de seguridad", "Security code"),
    "code.help": (
        "Abra su token, ingrese su PIN y escriba el código de 6 dígitos.",
        "Open your token, enter your PIN and type the 6-digit code.",
    ),
    "code.label": ("Código", "Code"),
    "code.challenge.help": (
        "Su token no muestra códigos: abra su token, ingrese su PIN, escriba en él este "
        "desafío de 8 cifras y escriba aquí la respuesta que muestra.",
        "Your token shows no codes: open your token, enter your PIN, type this 8-digit "
        "challenge on it and type here the response it shows.",
    ),
    "code.challenge.label": ("Respuesta del token", "The token's response"),
    "ops.challenge.help": (
        "Su token no muestra códigos: escriba en él este desafío de 8 cifras y escriba aquí "
        "la respuesta que muestra.",
        "Your token shows no codes: type this 8-digit challenge on it and type here the "
        "response it shows.",
    ),
    "code.submit": ("Continuar", "Continue"),
    "code.wrong": ("El código no es correcto.", "The code is not correct."),
    "code.locked": (
        "Demasiados códigos incorrectos. Intente de nuevo en {minutes} min.",
        "Too many wrong codes. Try again in {minutes} min.",
    ),
    "code.unavailable": (
        "No podemos validar códigos en este momento. Intente más tarde.",
        "Codes cannot be checked right now. Please try later.",
    ),
    "home.hello": ("Hola, {name}", "Hello, {name}"),
    "home.no_token": (
        "Aún no tiene un token activo. Actívelo para operar.",
        "You have no active token yet. Activate one to operate.",
    ),
    "home.token": ("Su token {device} está activo.", "Your token {device} is active."),
    "activate.title": ("Activar token", "Activate token"),
    "activate.kind": ("Elija el tipo de token", "Choose the kind of token"),
    "activate.kind.hardware": ("Token físico", "Hardware token"),
    "activate.kind.emulator": ("Emulador", "Emulator"),
    "activate.step1": (
        "En su token elija «Activar con código»: aparecerá el ID de su dispositivo.",
        "On your token choose “Activate with a code”: it shows the ID of your device.",
    ),
    "activate.device_id": ("ID del dispositivo", "Device ID"),
    "activate.device_id.ok": ("El ID parece correcto.", "The ID looks right."),
    "activate.device_id.bad": (
        "El ID del dispositivo no es correcto: revise los 16 dígitos.",
        "The device ID is not correct: check the 16 digits.",
    ),
    "activate.replace": (
        "Ya tiene un token activo: al activar uno nuevo, el anterior deja de "
        "funcionar. Confírmelo con un código de su token actual.",
        "You already have an active token: activating a new one retires it. "
        "Confirm with a code from your current token.",
    ),
    "activate.current_code": ("Código de su token actual", "Code from your current token"),
    "activate.code.bad": (
        "El código de su token actual no es correcto.",
        "The code from your current token is not correct.",
    ),
    "activate.generate": ("Generar código de activación", "Generate activation code"),
    "activate.code": ("Su código de activación", "Your activation code"),
    "activate.code.help": (
        "Escriba este código en su token donde dice «Introduzca el código de activación».",
        "Type this code on your token where it says “Enter the activation code”.",
    ),
    "activate.expires": ("Vence en", "Expires in"),
    "activate.waiting": ("Esperando a su token…", "Waiting for your token…"),
    "activate.synchronised": ("Su token quedó sincronizado.", "Your token is synchronised."),
    "activate.expired": (
        "El código venció. Genere uno nuevo.",
        "The code expired. Generate a new one.",
    ),
    "activate.failed": (
        "El ID de dispositivo o el código de activación no es correcto. "
        "Intente el proceso nuevamente.",
        "The device ID or the activation code is not correct. Try the process again.",
    ),
    "activate.again": ("Empezar de nuevo", "Start again"),
    "ops.title": ("Operaciones", "Operations"),
    "ops.help": (
        "Cada operación pide un código nuevo de su token.",
        "Each operation asks for a fresh code from your token.",
    ),
    "ops.transfer": ("Operaciones monetarias", "Money transfer"),
    "ops.statement": ("Consulta de estado de cuenta", "Account statement"),
    "ops.limits": ("Modificación de los límites de operación", "Change of operating limits"),
    "ops.notification": ("Modificación del medio de notificación", "Change of notification medium"),
    "ops.new_keys": ("Generación de nuevas claves", "Generation of new keys"),
    "field.amount": ("Importe", "Amount"),
    "field.account": ("Cuenta destino", "Destination account"),
    "field.concept": ("Concepto", "Reference"),
    "field.month": ("Mes", "Month"),
    "field.daily_limit": ("Límite diario", "Daily limit"),
    "field.medium": ("Medio", "Medium"),
    "field.medium.email": ("Correo electrónico", "E-mail"),
    "field.medium.sms": ("Mensaje de texto", "Text message"),
    "field.destination": ("Destino de los avisos", "Where notices go"),
    "field.confirm": ("Confirmo que quiero generar nuevas claves.", "I confirm I want new keys."),
    "field.invalid": ("Revise el campo «{field}».", "Check the field “{field}”."),
    "field.amount.positive": (
        "Revise el campo «{field}»: el importe es mayor que 0.",
        "Check the field “{field}”: the amount must be more than 0.",
    ),
    "field.amount.format": (
        "Revise el campo «{field}»: escriba el importe con cifras y, para los céntimos, una "
        "coma y como máximo 2 cifras, sin separador de miles (1250 o 1250,50).",
        "Check the field “{field}”: write the amount with digits and, for cents, a point and "
        "at most 2 digits, without thousands separators (1250 or 1250.50).",
    ),
    "field.amount.too_large": (
        "Revise el campo «{field}»: el importe máximo es {maximum}.",
        "Check the field “{field}”: the largest amount is {maximum}.",
    ),
    "ops.approve": ("Aprobar con código", "Approve with code"),
    "ops.approved": ("Operación aprobada", "Operation approved"),
    "ops.reference": ("Referencia", "Reference"),
    "ops.refused": ("Operación no aprobada", "Operation not approved"),
    "ops.back": ("Volver a operaciones", "Back to operations"),
    "ops.need_token": (
        "Active un token para aprobar operaciones.",
        "Activate a token to approve operations.",
    ),
    "ops.signed.amount": ("Importe firmado", "Amount signed"),
    "ops.signed.payee": ("Cuenta firmada", "Account signed"),
    # Signing a transfer on the token (docs/protocol.md §6). The token's own words (its
    # menu, its screens' titles, its question) are copied from its catalog,
    # device_firmware/core/catalog.py: tests/portal/test_transfer_signing.py holds them equal.
    "sign.menu": ("Firmar operación", "Sign a transaction"),
    "sign.screen.amount": ("Importe a transferir", "Amount to transfer"),
    "sign.screen.payee": ("Cuenta destino", "Payee account"),
    "sign.screen.confirm": ("Confirme la operación", "Confirm transfer"),
    "sign.screen.response": ("Respuesta", "Response"),
    "sign.question": ("¿Transferir {amount} a ...{payee}?", "Transfer {amount} to ...{payee}?"),
    "sign.screen": ("«{screen}»", "“{screen}”"),
    "sign.title": ("Firmar la transferencia", "Sign the transfer"),
    "sign.intro": (
        "Su token firma esta transferencia: escriba en él el importe y la cuenta como se "
        "indica abajo, y aquí la respuesta que le muestre. Una respuesta para otro importe "
        "u otra cuenta no la aprueba.",
        "Your token signs this transfer: type its amount and its account on the token as "
        "shown below, and the response it shows here. A response for another amount or "
        "another account does not approve it.",
    ),
    "sign.currency": (
        "El token no muestra la moneda: firma importes en {currency}.",
        "The token does not show the currency: it signs amounts in {currency}.",
    ),
    "sign.step.open": (
        "En su token, ingrese su PIN, elija su usuario y luego «{menu}».",
        "On your token, enter your PIN, choose your user, then “{menu}”.",
    ),
    "sign.step.amount": (
        "Escriba el importe solo con cifras y la tecla D, que escribe la coma decimal; "
        "luego pulse #:",
        "Type the amount with digits and the D key, which types the decimal point; then press #:",
    ),
    "sign.step.amount.shown": ("El token muestra {amount}.", "The token shows {amount}."),
    "sign.step.amount.no_d": (
        "En un teclado sin tecla D, mantenga pulsada la tecla # para escribir la coma.",
        "On a keypad without a D key, hold # down to type the point.",
    ),
    "sign.step.payee": (
        "Escriba los últimos 8 dígitos de la cuenta destino ({payee}) y pulse #:",
        "Type the last 8 digits of the payee account ({payee}) and press #:",
    ),
    "sign.step.confirm": (
        "El token pregunta «{question}». Si es lo que quiere firmar, pulse #.",
        "The token asks “{question}”. If that is what you want to sign, press #.",
    ),
    "sign.step.response": (
        "Escriba abajo los 8 dígitos que muestra el token: valen hasta que termine su minuto.",
        "Type below the 8 digits the token shows: they are good until its minute is over.",
    ),
    "sign.response": ("Respuesta del token", "The token's response"),
    "sign.submit": ("Firmar y aprobar", "Approve with the signature"),
    "sign.change": ("Cambiar los datos", "Change the details"),
    "sign.next": ("Continuar a la firma", "Continue to signing"),
    "sign.form_help": (
        "Su token firmará esta transferencia: en el paso siguiente verá qué escribir en él.",
        "Your token will sign this transfer: the next step shows what to type on it.",
    ),
    "sign.cannot": (
        "Su token no puede firmar transferencias: escriba un código.",
        "Your token cannot sign transfers: enter a code.",
    ),
    "sign.wrong": (
        "La respuesta no es correcta. Revise que escribió en el token este importe y esta "
        "cuenta, y escriba una respuesta nueva.",
        "The response is not correct. Check that you typed this amount and this account on "
        "the token, and type a new response.",
    ),
    "sign.response.bad": (
        "Escriba la respuesta: las cifras que muestra el token.",
        "Type the response: the digits the token shows.",
    ),
    "sessions.title": ("Sesiones activas", "Active sessions"),
    "sessions.help": (
        "Estas son las sesiones abiertas con su usuario. Si no reconoce alguna, ciérrela.",
        "These are the sessions open with your username. End any you do not recognise.",
    ),
    "sessions.browser": ("Navegador", "Browser"),
    "sessions.address": ("Dirección", "Address"),
    "sessions.since": ("Desde", "Since"),
    "sessions.seen": ("Último uso", "Last used"),
    "sessions.current": ("Esta sesión", "This session"),
    "sessions.end": ("Cerrar", "End"),
    "sessions.end_others": ("Cerrar todas las demás", "End all others"),
    "sessions.none_other": (
        "No hay otras sesiones abiertas.",
        "There are no other open sessions.",
    ),
    "sessions.bad": (
        "La sesión indicada no es válida.",
        "The session named is not valid.",
    ),
    "sessions.unknown": (
        "No tiene una sesión con ese nombre.",
        "You have no session of that name.",
    ),
    "sessions.in_use": (
        "Esa es la sesión que está usando: para cerrarla, salga.",
        "That is the session you are using: log out to end it.",
    ),
    "csrf.refused": (
        "El formulario caducó. Vuelva a cargar la página.",
        "The form expired. Reload the page.",
    ),
}


_AMOUNT_MARKS = {"es": (".", ","), "en": (",", ".")}
"""(thousands separator, decimal mark) of each language, as the token shows amounts."""


def amount(cents: int, language: str) -> str:
    """An amount in the language's marks, with both decimals, as the token shows it:
    ``1.250,00`` in Spanish, ``1,250.00`` in English."""
    thousands, mark = _AMOUNT_MARKS[language]
    whole, fraction = divmod(cents, 100)
    return f"{whole:,}".replace(",", thousands) + f"{mark}{fraction:02d}"


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language to use: ?lang=, then the cookie, then the browser's preference, then es."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    weighted = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((quality, tag.strip().lower()[:2]))
    for _, tag in sorted(weighted, reverse=True):
        if tag in LANGUAGES:
            return tag
    return DEFAULT


def translator(language: str) -> Callable[..., str]:
    """`t(key, **values)` in `language`."""
    index = LANGUAGES.index(language)

    def t(key: str, **values: object) -> str:
        text = MESSAGES[key][index]
        return text.format(**values) if values else text

    return t
