"""Command-line tasks: ``flask --app server create-clinic | create-token | demo | monitor |
backup | restore``."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click
from flask import Blueprint
from sqlalchemy import select

from server.backups import BackupFailed, back_up, restore
from server.errors import DomainError
from server.extensions import db
from server.models import Clinic, utcnow
from server.services.access import (
    DEFAULT_TOKEN_DAYS,
    MAX_TOKEN_DAYS,
    issue_api_token,
    list_api_tokens,
    revoke_api_token,
)
from server.services.clinics import (
    clinician_by_email,
    create_clinic,
    create_clinician,
)
from server.services.credentials import new_password
from server.services.demo import load_demo
from server.services.monitoring import service_figures

bp = Blueprint("cli", __name__, cli_group=None)


def _fail_cleanly(error: DomainError) -> NoReturn:
    """A broken rule is the user's to fix: say it without a traceback."""
    db.session.rollback()
    raise click.ClickException(error.message)


@bp.cli.command("create-clinic")
@click.argument("name")
@click.option("--admin-email", required=True, help="E-mail of the clinic's first admin.")
@click.option("--password", help="The admin's password; generated and printed once if left out.")
@click.option(
    "--timezone", required=True, help="The clinic's IANA time zone, such as Australia/Sydney."
)
@click.option("--phone", help="The phone patients call, shown in their app and advice.")
@click.option(
    "--emergency-number",
    help="For patients in the clinic's own country, instead of that country's usual number "
    "(000 in Australia, 911 in the US and Canada, ...).",
)
def create_clinic_command(
    name: str,
    admin_email: str,
    password: str | None,
    timezone: str,
    phone: str | None,
    emergency_number: str | None,
) -> None:
    """Create a clinic with its first admin clinician."""
    generated = password is None
    password = password or new_password()
    try:
        clinic = create_clinic(
            db.session(),
            name=name,
            timezone=timezone,
            phone=phone,
            emergency_number=emergency_number,
        )
        admin = create_clinician(
            db.session(), clinic=clinic, email=admin_email, password=password, role="admin"
        )
    except DomainError as error:
        _fail_cleanly(error)
    db.session.commit()
    click.echo(f"Created clinic {clinic.name!r} (id {clinic.id}) with admin {admin.email}.")
    if generated:
        click.echo(f"Generated password (shown once): {password}")


@bp.cli.command("create-token")
@click.argument("email")
@click.option("--name", default="", help="What the token is for, to tell it apart later.")
@click.option(
    "--days",
    type=click.IntRange(1, MAX_TOKEN_DAYS),
    default=DEFAULT_TOKEN_DAYS,
    show_default=True,
    help="Days until it expires.",
)
def create_token_command(email: str, name: str, days: int) -> None:
    """Create an API token for a clinician; the token alone is printed on the last line."""
    try:
        clinician = clinician_by_email(db.session(), email=email)
    except DomainError as error:
        _fail_cleanly(error)
    token = issue_api_token(db.session(), clinician=clinician, now=utcnow(), name=name, days=days)
    db.session.commit()
    click.echo(f"API token for {clinician.email}, expiring in {days} days (shown once):")
    click.echo(token)


@bp.cli.command("list-tokens")
@click.argument("email")
def list_tokens_command(email: str) -> None:
    """List a clinician's API tokens not revoked: id, name, created, last used, expires."""
    try:
        clinician = clinician_by_email(db.session(), email=email)
    except DomainError as error:
        _fail_cleanly(error)
    for row in list_api_tokens(db.session(), clinician=clinician):
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never used"
        expires = f"{row.expires_at:%Y-%m-%d}" if row.expires_at else "never"
        click.echo(
            f"{row.id}\t{row.name or '-'}\tcreated {row.created_at:%Y-%m-%d}\t{used}\t"
            f"expires {expires}"
        )


@bp.cli.command("revoke-token")
@click.argument("email")
@click.argument("token_id", type=int)
def revoke_token_command(email: str, token_id: int) -> None:
    """Revoke one of a clinician's API tokens by its id (see list-tokens)."""
    try:
        clinician = clinician_by_email(db.session(), email=email)
        revoke_api_token(db.session(), clinician=clinician, token_id=token_id, now=utcnow())
    except DomainError as error:
        _fail_cleanly(error)
    db.session.commit()
    click.echo(f"Token {token_id} of {clinician.email} is revoked.")


@bp.cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Only when the database has no clinic yet.")
def demo_command(if_empty: bool) -> None:
    """Load the demo clinic (two clinicians, ~90 patients, eight weeks of answers); idempotent."""
    session = db.session()
    if if_empty and session.scalar(select(Clinic.id).limit(1)) is not None:
        click.echo("The database already has a clinic; no demo data loaded.")
        return
    summary = load_demo(session, now=utcnow())
    session.commit()
    click.echo(summary)


@bp.cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """Copy the whole database to PATH while the app runs (PostgreSQL: pg_dump's custom
    format; SQLite: a database file)."""
    if path.exists():
        raise click.ClickException(f"{path} exists; a backup never overwrites a file")
    try:
        back_up(db.engine.url, path)
    except BackupFailed as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Backed up {db.engine.url.render_as_string()} to {path}.")


@bp.cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Replace the database without asking.")
def restore_command(path: Path, yes: bool) -> None:
    """Replace the database's tables and rows with those of a backup made by `backup`. Stop
    the web and worker processes first; then run `flask db upgrade` if the backup is older."""
    url = db.engine.url
    if not yes:
        click.confirm(f"Replace everything in {url.render_as_string()} with {path}?", abort=True)
    db.session.remove()
    db.engine.dispose()  # no pooled connection holds a lock the restore waits on
    try:
        restore(url, path)
    except BackupFailed as error:
        raise click.ClickException(str(error)) from error
    db.engine.dispose()  # nor statements prepared against the tables dropped and made again
    click.echo(f"Restored {path} into {url.render_as_string()}.")


@bp.cli.command("monitor")
def monitor_command() -> None:
    """Print the service's queues and alert waits, one `name value` line each, in the text
    format Prometheus reads (node_exporter's textfile collector); ages in seconds."""
    figures = service_figures(db.session(), now=utcnow())
    lines = [
        ("needling_prompts_due", figures.prompts_due),
        ("needling_prompt_oldest_wait_seconds", figures.oldest_prompt_wait_s),
        ("needling_checkins_unreached", figures.checkins_unreached),
        *(
            (f'needling_delivery_failures_24h{{channel="{channel}"}}', count)
            for channel, count in sorted(figures.delivery_failures.items())
        ),
        ("needling_alert_notices_due", figures.notices_due),
        ("needling_alert_notice_oldest_wait_seconds", figures.oldest_notice_wait_s),
        *(
            (f'needling_alerts_unacknowledged{{severity="{severity}"}}', count)
            for severity, count in figures.alerts_unacknowledged.items()
        ),
        *(
            (f'needling_alert_oldest_unacknowledged_seconds{{severity="{severity}"}}', age)
            for severity, age in figures.oldest_alert_wait_s.items()
        ),
        ("needling_alerts_acknowledged_24h", figures.alerts_acknowledged),
        ("needling_alert_acknowledgement_mean_seconds_24h", figures.acknowledgement_mean_s),
        ("needling_alert_acknowledgement_max_seconds_24h", figures.acknowledgement_max_s),
    ]
    for name, value in lines:
        click.echo(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
