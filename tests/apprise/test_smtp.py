"""E-mail through Apprise to a real SMTP server on loopback: the message, refusals, a bad login, a server down."""

import pytest

from labmon import PermanentError, Secret, TransientError
from labmon_apprise.notifier import AppriseConfig, AppriseNotifier
from tests.apprise.conftest import PASSWORD, alert, free_port, text_of


def notifier(*urls: str) -> AppriseNotifier:
    return AppriseNotifier(AppriseConfig(urls=Secret("\n".join(urls)), timeout=10.0))


def test_a_firing_alert_arrives_as_a_mail_with_subject_and_facts(smtp):
    notifier(smtp.url()).notify(alert())
    (mail,) = smtp.wait_for(1)
    assert mail["Subject"] == "CRITICAL: laser1-unlocked on table1/laser1/lock_error"
    assert mail["To"] == "team@lab.example" and mail["From"] == "labmon@lab.example"
    text = text_of(mail)
    assert text.startswith("table1/laser1/lock_error has been above 0.5 V for 20m (now 1.05 V)\n")
    assert "value: 1.05 V\nthreshold: 0.5 V\nheld for: 20m\n" in text


def test_a_plot_arrives_as_an_image_attachment(smtp):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # a real plot comes from the collector's renderer
    notifier(smtp.url()).notify_with_plot(alert(), png)
    (mail,) = smtp.wait_for(1)
    (image,) = [part for part in mail.walk() if part.get_content_type() == "image/png"]
    assert image.get_filename() == "plot.png"
    assert image.get_payload(decode=True) == png
    assert text_of(mail).startswith("table1/laser1/lock_error has been above 0.5 V")


def test_a_resolved_alert_is_its_own_mail(smtp):
    notifier(smtp.url()).notify(alert("resolved", message="table1/laser1/lock_error is back at 0.05 V", value=0.05))
    (mail,) = smtp.wait_for(1)
    assert mail["Subject"] == "RESOLVED: laser1-unlocked on table1/laser1/lock_error"
    assert "lasted: 20m" in text_of(mail)


def test_a_login_with_the_right_password_sends(smtp):
    smtp.login = ("labmon", PASSWORD)
    notifier(smtp.url(user=f"labmon:{PASSWORD}")).notify(alert())
    assert len(smtp.wait_for(1)) == 1


def test_a_refused_login_parks_and_never_shows_the_password(smtp):
    smtp.login = ("labmon", "another-password")
    with pytest.raises(PermanentError) as caught:
        notifier(smtp.url(user=f"labmon:{PASSWORD}")).notify(alert())
    assert "url 1 (E-Mail): the mail server answered 535" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "error"), [("550 5.1.1 no such user", PermanentError), ("451 4.3.0 try again later", TransientError)]
)
def test_a_refused_recipient_parks_for_good_or_retries_when_the_server_says_later(smtp, reply, error):
    smtp.refuse["gone@lab.example"] = reply
    with pytest.raises(error) as caught:
        notifier(smtp.url("gone@lab.example")).notify(alert())
    assert f"the mail server answered {reply[:3]}" in str(caught.value)
    assert "gone@lab.example" not in str(caught.value)  # the address is part of the URL: hidden too
    assert smtp.received == []


def test_a_mail_server_that_is_down_is_retried():
    with pytest.raises(TransientError) as caught:
        notifier(
            f"mailto://labmon:{PASSWORD}@127.0.0.1:{free_port()}?from=labmon@lab.example&to=team@lab.example"
        ).notify(alert())
    assert "url 1 (E-Mail)" in str(caught.value) and "Connection refused" in str(caught.value)
    assert PASSWORD not in str(caught.value)
