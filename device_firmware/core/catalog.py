"""Every sentence the token shows, in Spanish and English, from one catalog.

The Spanish follows the two bank guides the product reproduces (PaySecure of Banco Improsa and
INVEX Clave): "Defina un PIN de acceso de 4 dígitos", "Agregar otro usuario", "Introduzca el
código de activación", "El número ID de dispositivo no es correcto o bien el código de
activación no es correcto". INVEX addresses the customer as *tú* and PaySecure as *usted*;
the token uses *usted* throughout so one screen never mixes the two.

Placeholders use `str.format` names; both languages of a message use the same names (a test
checks it).
"""

from __future__ import annotations

import enum


class Language(enum.StrEnum):
    """A language the token can speak; the value is its ISO 639-1 code."""

    ES = "es"
    EN = "en"

    @property
    def native_name(self) -> str:
        """The language's name in itself, as the language menu lists it."""
        return {"es": "Español", "en": "English"}[self.value]


class Msg(enum.Enum):
    """The key of one sentence in the catalog."""

    # Titles
    TITLE_WELCOME = enum.auto()
    TITLE_ADD_USER = enum.auto()
    TITLE_USERNAME = enum.auto()
    TITLE_SECRET_WORD = enum.auto()
    TITLE_EMAIL_CODE = enum.auto()
    TITLE_ACTIVATE = enum.auto()
    TITLE_ACTIVATION_CODE = enum.auto()
    TITLE_SYNCHRONISED = enum.auto()
    TITLE_DEFINE_PIN = enum.auto()
    TITLE_CONFIRM_PIN = enum.auto()
    TITLE_ENTER_PIN = enum.auto()
    TITLE_WAIT = enum.auto()
    TITLE_USERS = enum.auto()
    TITLE_DELETE_USER = enum.auto()
    TITLE_CONFIRM_DELETE = enum.auto()
    TITLE_CODE = enum.auto()
    TITLE_SETTINGS = enum.auto()
    TITLE_LANGUAGE = enum.auto()
    TITLE_ABOUT = enum.auto()
    TITLE_ERROR = enum.auto()
    TITLE_ERASED = enum.auto()
    TITLE_DAMAGED = enum.auto()
    TITLE_CLOCK = enum.auto()
    TITLE_CLOCK_UNSET = enum.auto()
    TITLE_AMOUNT = enum.auto()
    TITLE_PAYEE = enum.auto()
    TITLE_CONFIRM_TRANSFER = enum.auto()
    TITLE_RESPONSE = enum.auto()
    # Menu items
    MENU_REGISTER = enum.auto()
    MENU_ACTIVATE = enum.auto()
    MENU_LANGUAGE_BOTH = enum.auto()
    MENU_ADD_USER = enum.auto()
    MENU_DELETE_USER = enum.auto()
    MENU_SETTINGS = enum.auto()
    MENU_LANGUAGE = enum.auto()
    MENU_SYNC_CLOCK = enum.auto()
    MENU_ABOUT = enum.auto()
    MENU_SHOW_CODE = enum.auto()
    MENU_SIGN = enum.auto()
    DELETE_ITEM = enum.auto()
    YES = enum.auto()
    NO = enum.auto()
    # Lines
    DEVICE_ID_LINE = enum.auto()
    EMAIL_SENT_TO = enum.auto()
    ACTIVATE_TYPE_ID = enum.auto()
    SYNCHRONISED_BODY = enum.auto()
    PIN_REMEMBER = enum.auto()
    PIN_MISMATCH = enum.auto()
    PIN_WRONG = enum.auto()
    PIN_LAST_ATTEMPT = enum.auto()
    ERASED_BODY = enum.auto()
    DAMAGED_BODY = enum.auto()
    NO_USERS = enum.auto()
    CODE_CHANGES_IN = enum.auto()
    CLOCK_SYNCED = enum.auto()
    CLOCK_UNSET_BODY = enum.auto()
    ABOUT_VERSION = enum.auto()
    ABOUT_VAULT_FILE = enum.auto()
    ABOUT_VAULT_TPM = enum.auto()
    ABOUT_TRUST_ON_FIRST_USE = enum.auto()
    DEVELOPMENT_TITLE = enum.auto()
    BUSY_BANK = enum.auto()
    BUSY_PIN = enum.auto()
    BUSY_SAVING = enum.auto()
    BUSY_ERASING = enum.auto()
    BUSY_OPENING = enum.auto()
    AMOUNT_NOTE = enum.auto()
    PAYEE_NOTE = enum.auto()
    TRANSFER_QUESTION = enum.auto()
    TRANSFER_LINE = enum.auto()
    # Errors in plain words
    ERR_UNREACHABLE = enum.auto()
    ERR_WRONG_CREDENTIALS = enum.auto()
    ERR_WRONG_EMAIL_CODE = enum.auto()
    ERR_ACTIVATION = enum.auto()
    ERR_CODE_EXPIRED = enum.auto()
    ERR_TOO_MANY_ATTEMPTS = enum.auto()
    ERR_BUNDLE = enum.auto()
    ERR_ENROLMENT_REFUSED = enum.auto()
    ERR_BANK = enum.auto()
    ERR_STORAGE = enum.auto()
    ERR_LOCKED_OUT = enum.auto()
    ERR_AMOUNT_DECIMALS = enum.auto()
    ERR_AMOUNT_ZERO = enum.auto()
    ERR_AMOUNT_TOO_LARGE = enum.auto()
    ERR_PAYEE_DIGITS = enum.auto()
    # Key hints
    HINT_MENU = enum.auto()
    HINT_MENU_BACK = enum.auto()
    HINT_USERS = enum.auto()
    HINT_TEXT = enum.auto()
    HINT_DIGITS = enum.auto()
    HINT_DIGITS_BACK = enum.auto()
    HINT_CONTINUE = enum.auto()
    HINT_ACTIVATE_NEXT = enum.auto()
    HINT_ANY_KEY = enum.auto()
    HINT_BACK = enum.auto()
    HINT_ERASE = enum.auto()
    HINT_AMOUNT = enum.auto()
    HINT_DIGITS_CANCEL = enum.auto()
    HINT_CONFIRM = enum.auto()


# (Spanish, English) for every message.
_TEXTS: dict[Msg, tuple[str, str]] = {
    Msg.TITLE_WELCOME: ("Bienvenido", "Welcome"),
    Msg.TITLE_ADD_USER: ("Agregar otro usuario", "Add another user"),
    Msg.TITLE_USERNAME: ("Usuario", "Username"),
    Msg.TITLE_SECRET_WORD: ("Contraseña", "Password"),
    Msg.TITLE_EMAIL_CODE: ("Código del correo", "E-mailed code"),
    Msg.TITLE_ACTIVATE: ("Activar", "Activate"),
    Msg.TITLE_ACTIVATION_CODE: (
        "Introduzca el código de activación",
        "Enter the activation code",
    ),
    Msg.TITLE_SYNCHRONISED: ("Sincronizado", "Synchronised"),
    Msg.TITLE_DEFINE_PIN: (
        "Defina un PIN de acceso de {length} dígitos",
        "Choose a {length}-digit access PIN",
    ),
    Msg.TITLE_CONFIRM_PIN: (
        "Confirme su PIN de acceso de {length} dígitos",
        "Confirm your {length}-digit access PIN",
    ),
    Msg.TITLE_ENTER_PIN: ("Ingrese su PIN", "Enter your PIN"),
    Msg.TITLE_WAIT: ("Espere", "Please wait"),
    Msg.TITLE_USERS: ("Usuarios", "Users"),
    Msg.TITLE_DELETE_USER: ("Eliminar usuario", "Delete user"),
    Msg.TITLE_CONFIRM_DELETE: ("¿Eliminar a {name}?", "Delete {name}?"),
    Msg.TITLE_CODE: ("Su código", "Your code"),
    Msg.TITLE_SETTINGS: ("Configuración", "Settings"),
    Msg.TITLE_LANGUAGE: ("Idioma", "Language"),
    Msg.TITLE_ABOUT: ("Acerca de", "About"),
    Msg.TITLE_ERROR: ("Error", "Error"),
    Msg.TITLE_ERASED: ("Token borrado", "Token erased"),
    Msg.TITLE_DAMAGED: ("Memoria dañada", "Memory damaged"),
    Msg.TITLE_CLOCK: ("Hora", "Clock"),
    Msg.TITLE_CLOCK_UNSET: ("Hora no configurada", "Clock not set"),
    Msg.TITLE_AMOUNT: ("Importe a transferir", "Amount to transfer"),
    Msg.TITLE_PAYEE: ("Cuenta destino", "Payee account"),
    Msg.TITLE_CONFIRM_TRANSFER: ("Confirme la operación", "Confirm transfer"),
    Msg.TITLE_RESPONSE: ("Respuesta", "Response"),
    Msg.MENU_REGISTER: ("Registrarme con mi usuario", "Register with my bank username"),
    Msg.MENU_ACTIVATE: ("Activar con un código", "Activate with a code"),
    Msg.MENU_LANGUAGE_BOTH: ("Idioma / Language", "Idioma / Language"),
    Msg.MENU_ADD_USER: ("Agregar otro usuario", "Add another user"),
    Msg.MENU_DELETE_USER: ("Eliminar usuario", "Delete user"),
    Msg.MENU_SETTINGS: ("Configuración", "Settings"),
    Msg.MENU_LANGUAGE: ("Idioma", "Language"),
    Msg.MENU_SYNC_CLOCK: ("Sincronizar hora", "Synchronise clock"),
    Msg.MENU_ABOUT: ("Acerca de", "About"),
    Msg.MENU_SHOW_CODE: ("Ver código", "Show code"),
    Msg.MENU_SIGN: ("Firmar operación", "Sign a transaction"),
    Msg.DELETE_ITEM: ("X {name}", "X {name}"),
    Msg.YES: ("Sí", "Yes"),
    Msg.NO: ("No", "No"),
    Msg.DEVICE_ID_LINE: ("ID del dispositivo: {device_id}", "Device ID: {device_id}"),
    Msg.EMAIL_SENT_TO: (
        "Ingrese el código que se envió a su correo {email}",
        "Enter the code sent to your e-mail {email}",
    ),
    Msg.ACTIVATE_TYPE_ID: (
        "Escriba el ID de su dispositivo en el portal del banco:",
        "Type your device ID in the bank's portal:",
    ),
    Msg.SYNCHRONISED_BODY: (
        "Su token quedó sincronizado con el banco.",
        "Your token is synchronised with the bank.",
    ),
    Msg.PIN_REMEMBER: (
        "Este PIN le será solicitado cada vez que ingrese.",
        "You will be asked for this PIN every time you open the token.",
    ),
    Msg.PIN_MISMATCH: (
        "Los PIN no coinciden. Defina su PIN nuevamente.",
        "The PINs do not match. Choose your PIN again.",
    ),
    Msg.PIN_WRONG: (
        "PIN incorrecto. Intentos restantes: {remaining}.",
        "Wrong PIN. Attempts left: {remaining}.",
    ),
    Msg.PIN_LAST_ATTEMPT: (
        "Último intento: si el PIN es incorrecto, el token se desconfigurará.",
        "Last attempt: if the PIN is wrong, the token will be erased.",
    ),
    Msg.ERASED_BODY: (
        "PIN incorrecto. Por su seguridad, el token se desconfiguró y deberá "
        "registrarse nuevamente.",
        "Wrong PIN. For your security the token has been erased; you must register again.",
    ),
    Msg.DAMAGED_BODY: (
        "Los datos del token están dañados o fueron alterados. Presione # para borrarlo "
        "y registrarse nuevamente.",
        "The token's data is damaged or was altered. Press # to erase it and register again.",
    ),
    Msg.NO_USERS: ("No hay usuarios registrados.", "No registered users."),
    Msg.CODE_CHANGES_IN: ("Cambia en {seconds} s", "Changes in {seconds} s"),
    Msg.CLOCK_SYNCED: (
        "Hora sincronizada con el banco (diferencia: {offset} s).",
        "Clock synchronised with the bank (offset: {offset} s).",
    ),
    Msg.CLOCK_UNSET_BODY: (
        "El token aún no tiene la hora correcta y no puede mostrar códigos. "
        "Conéctelo a internet y espere un momento.",
        "The token does not have the correct time yet and cannot show codes. "
        "Connect it to the internet and wait a moment.",
    ),
    Msg.ABOUT_VERSION: ("Versión {version}", "Version {version}"),
    Msg.ABOUT_VAULT_FILE: ("Bóveda: archivo (débil)", "Vault: file (weaker)"),
    Msg.ABOUT_VAULT_TPM: ("Bóveda: TPM", "Vault: TPM"),
    Msg.ABOUT_TRUST_ON_FIRST_USE: (
        "Clave del banco sin verificar (desarrollo)",
        "Bank key not verified (development)",
    ),
    Msg.DEVELOPMENT_TITLE: ("{title} (desarrollo)", "{title} (development)"),
    Msg.BUSY_BANK: ("Conectando con el banco…", "Contacting the bank…"),
    Msg.BUSY_PIN: ("Verificando el PIN…", "Checking the PIN…"),
    Msg.BUSY_SAVING: ("Guardando…", "Saving…"),
    Msg.BUSY_ERASING: ("Borrando…", "Erasing…"),
    Msg.BUSY_OPENING: ("Iniciando…", "Starting…"),
    Msg.AMOUNT_NOTE: ("D escribe la coma decimal.", "D types the decimal point."),
    Msg.PAYEE_NOTE: (
        "Sus últimos 8 dígitos, o el número que muestra el banco.",
        "Its last 8 digits, or the number the bank shows.",
    ),
    Msg.TRANSFER_QUESTION: (
        "¿Transferir {amount} a ...{payee}?",
        "Transfer {amount} to ...{payee}?",
    ),
    Msg.TRANSFER_LINE: ("{amount} ...{payee_end}", "{amount} ...{payee_end}"),
    Msg.ERR_UNREACHABLE: (
        "No se pudo conectar con el banco. Revise la conexión e intente de nuevo.",
        "Could not reach the bank. Check the connection and try again.",
    ),
    Msg.ERR_WRONG_CREDENTIALS: (
        "El usuario o la contraseña no son correctos.",
        "The username or the password is not correct.",
    ),
    Msg.ERR_WRONG_EMAIL_CODE: (
        "El código no es correcto. Revise su correo e intente de nuevo.",
        "The code is not correct. Check your e-mail and try again.",
    ),
    Msg.ERR_ACTIVATION: (
        "El número ID de dispositivo no es correcto o bien el código de activación no es "
        "correcto. Intente el proceso nuevamente.",
        "The device ID or the activation code is not correct. Try again.",
    ),
    Msg.ERR_CODE_EXPIRED: (
        "El código venció. Empiece de nuevo para recibir otro.",
        "The code has expired. Start again to get a new one.",
    ),
    Msg.ERR_TOO_MANY_ATTEMPTS: (
        "Demasiados intentos. Espere unos minutos e intente de nuevo.",
        "Too many attempts. Wait a few minutes and try again.",
    ),
    Msg.ERR_BUNDLE: (
        "La respuesta del banco no pudo verificarse. Intente de nuevo o llame a su banco.",
        "The bank's answer could not be verified. Try again or call your bank.",
    ),
    Msg.ERR_ENROLMENT_REFUSED: (
        "El banco no permite dar de alta este token. Si ya tiene uno, reemplácelo desde el "
        "portal con un código de ese token; si lo perdió, llame a su banco.",
        "The bank does not allow this token to be enrolled. If you have a token already, "
        "replace it in the portal with a code from it; if you lost it, call your bank.",
    ),
    Msg.ERR_BANK: (
        "El banco no pudo atender la solicitud. Intente más tarde.",
        "The bank could not handle the request. Try again later.",
    ),
    Msg.ERR_STORAGE: (
        "No se pudo guardar en la memoria del token. Intente de nuevo.",
        "The token could not write to its memory. Try again.",
    ),
    Msg.ERR_LOCKED_OUT: (
        "Demasiados PIN incorrectos: el token no acepta otro en {hours} h encendido.",
        "Too many wrong PINs: the token takes no other for {hours} h switched on.",
    ),
    Msg.ERR_AMOUNT_DECIMALS: ("Solo 2 decimales.", "Only 2 decimals."),
    Msg.ERR_AMOUNT_ZERO: ("Escriba un importe mayor que 0.", "Type an amount above 0."),
    Msg.ERR_AMOUNT_TOO_LARGE: ("El máximo es {maximum}.", "The most is {maximum}."),
    Msg.ERR_PAYEE_DIGITS: ("Escriba los 8 dígitos.", "Type all 8 digits."),
    Msg.HINT_MENU: ("A/B mover  # elegir", "A/B move  # select"),
    Msg.HINT_MENU_BACK: ("A/B mover  # elegir  C volver", "A/B move  # select  C back"),
    Msg.HINT_USERS: ("A/B mover  # elegir  C bloquear", "A/B move  # select  C lock"),
    Msg.HINT_TEXT: (
        "* borrar  A/B mover  D modo  # OK  C volver",
        "* delete  A/B move  D mode  # OK  C back",
    ),
    Msg.HINT_DIGITS: ("* borrar  # continuar", "* delete  # continue"),
    Msg.HINT_DIGITS_BACK: ("* borrar  # continuar  C volver", "* delete  # continue  C back"),
    Msg.HINT_CONTINUE: ("# continuar", "# continue"),
    Msg.HINT_ACTIVATE_NEXT: (
        "# cuando tenga el código de activación  C volver",
        "# when you have the activation code  C back",
    ),
    Msg.HINT_ANY_KEY: ("Presione una tecla", "Press any key"),
    Msg.HINT_BACK: ("C volver", "C back"),
    Msg.HINT_ERASE: ("# borrar", "# erase"),
    Msg.HINT_AMOUNT: (
        "D coma  * borrar  # continuar  C cancelar",
        "D point  * delete  # continue  C cancel",
    ),
    Msg.HINT_DIGITS_CANCEL: (
        "* borrar  # continuar  C cancelar",
        "* delete  # continue  C cancel",
    ),
    Msg.HINT_CONFIRM: ("# confirmar  C cancelar", "# confirm  C cancel"),
}

_COLUMN = {Language.ES: 0, Language.EN: 1}


def say(language: Language, msg: Msg, **params: object) -> str:
    """The sentence `msg` in `language`, with its placeholders filled from `params`."""
    return _TEXTS[msg][_COLUMN[language]].format(**params)


def template(language: Language, msg: Msg) -> str:
    """The raw sentence, placeholders unfilled (for checks of the catalog itself)."""
    return _TEXTS[msg][_COLUMN[language]]
