"""The enrollment's e-mails alone: text in both languages, no mail server (milliseconds)."""

from __future__ import annotations

from server.domain.enrollment.messages import new_token_registered, registration_code


def test_the_registration_code_is_given_in_both_languages_with_its_lifetime() -> None:
    mail = registration_code("Banco Demo", "Ana", "04812390", ttl_seconds=600)
    assert mail.subject == "Banco Demo: código de registro / registration code"
    assert mail.body.startswith("Hola Ana:\n\n")
    assert "Su código para registrar el token es: 04812390\nVence en 10 minutos." in mail.body
    assert "Your code to register the token is: 04812390\nIt expires in 10 minutes." in mail.body


def test_the_code_s_lifetime_is_in_whole_minutes() -> None:
    assert "Vence en 2 minutos" in registration_code("B", "Ana", "1", ttl_seconds=179).body


def test_the_notice_of_a_new_token_names_it_grouped_as_the_token_shows_it() -> None:
    notice = new_token_registered("Banco Demo", "Ana", "0203667801700878")
    assert notice.subject == "Banco Demo: nuevo token activado / new token"
    assert "Su token 0203 6678 0170 0878 fue registrado." in notice.body
    assert "Your token 0203 6678 0170 0878 was registered." in notice.body
    assert "call your bank" in notice.body
