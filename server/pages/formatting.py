"""How the pages show times and numbers (Jinja filters), and read local times from forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import phonenumbers
from flask import g
from markupsafe import Markup

from server.charts.palette import MODALITY_LABELS
from server.models.responses import SOURCE_LABELS
from server.models.treatments import SIDE_LABELS
from server.protocols import Value, item_bank, regions
from server.services.adjusted.comparison import REGION

# offered first when enrolling; any IANA zone is accepted (the browser's own is added by JS)
COMMON_TIMEZONES = (
    "UTC",
    "America/St_Johns",
    "America/Halifax",
    "America/Toronto",
    "America/New_York",
    "America/Winnipeg",
    "America/Chicago",
    "America/Regina",
    "America/Edmonton",
    "America/Denver",
    "America/Phoenix",
    "America/Vancouver",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Mexico_City",
    "America/Bogota",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Istanbul",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Hong_Kong",
    "Asia/Shanghai",
    "Asia/Seoul",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Adelaide",
    "Australia/Brisbane",
    "Australia/Sydney",
    "Pacific/Auckland",
)
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> takes and posts


def local_time(moment: datetime | None, zone: str) -> str:
    """A moment as the patient's clock shows it: 'Tue 24 Nov, 09:00 PST' (this year), else
    'Tue 24 Nov 2026, 09:00 PST'."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    this_year = local.year == datetime.now(UTC).astimezone(local.tzinfo).year
    return local.strftime("%a %d %b, %H:%M %Z" if this_year else "%a %d %b %Y, %H:%M %Z")


def clinic_time(
    moment: datetime | None, clinic_zone: str, patient_zone: str | None = None
) -> Markup:
    """A moment on the clinic's clock as a <time> element, with the patient's clock beside it
    where it reads differently: 'Tue 24 Nov, 17:00 GMT (patient's time 09:00 PST)'."""
    if moment is None:
        return Markup("")
    ours = moment.astimezone(ZoneInfo(clinic_zone))
    shown = Markup('<time datetime="{}">{}</time>').format(
        utc_iso(moment), local_time(moment, clinic_zone)
    )
    if patient_zone is None:
        return shown
    theirs = moment.astimezone(ZoneInfo(patient_zone))
    if theirs.utcoffset() == ours.utcoffset():
        return shown
    clock = theirs.strftime("%H:%M %Z" if theirs.date() == ours.date() else "%a %H:%M %Z")
    return shown + Markup(' <span class="patient-time">(patient\'s time {})</span>').format(clock)


def _clinic_time(moment: datetime | None, patient_zone: str | None = None) -> Markup:
    """``clinic_time`` on the signed-in clinician's clinic clock (a Jinja filter)."""
    return clinic_time(moment, g.get("clinic_zone") or "UTC", patient_zone)


def utc_iso(moment: datetime) -> str:
    """A moment for a <time datetime> attribute."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def local_input(moment: datetime, zone: str) -> str:
    """A moment as the value of a datetime-local input in the patient's zone."""
    return moment.astimezone(ZoneInfo(zone)).strftime(INPUT_FORMAT)


def from_local_input(local: datetime, zone: str) -> datetime:
    """A datetime-local value, read as the patient's wall clock, as an aware UTC time."""
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def modality_label(modality: str) -> str:
    """'dry_needling' -> 'Dry needling'."""
    return MODALITY_LABELS.get(modality, modality)


def percent(share: float | None) -> str:
    """0.857 -> '86 %'; None -> 'no check-in closed yet'."""
    return "no check-in closed yet" if share is None else f"{round(share * 100)} %"


def hours(value: float | None) -> str:
    """Hours with one decimal at most: 6.0 -> '6', 6.25 -> '6.3'."""
    if value is None:
        return ""
    return f"{value:.1f}".removesuffix(".0")


def number(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """A figure to ``digits`` decimals, never "-0.0" (a mean of -0.04 reads 0.0); ``signed``
    gives a difference its sign: '+1.5', '-0.3', and '0.0' for none. None -> '-'."""
    if value is None:
        return "-"
    rounded = round(value, digits) + 0.0  # -0.0 + 0.0 is 0.0
    return f"{rounded:+.{digits}f}" if signed and rounded else f"{rounded:.{digits}f}"


def covariates(names: list[str], separator: str = ", ") -> str:
    """What a model adjusted for, in words: its region groups ('region: Neck', ...) as one
    phrase, 'the region treated (Neck, Knee)', in their place among the others."""
    regions = [name.removeprefix(REGION) for name in names if name.startswith(REGION)]
    words = [name for name in names if not name.startswith(REGION)]
    if regions:
        first = next(i for i, name in enumerate(names) if name.startswith(REGION))
        words.insert(first, f"the region treated ({', '.join(regions)})")
    return separator.join(words)


def scalable_svg(svg: str) -> Markup:
    """An SVG (the enrolment QR code, from segno) with a viewBox, so CSS can size it whole, and
    role="img", so its <title> is read as its name."""
    size = re.match(r'<svg [^>]*width="(\d+)" height="(\d+)"', svg)
    if size is None or "viewBox" in svg:
        return Markup(svg)  # noqa: S704 - our own service's SVG, not user input
    width, height = size.groups()
    return Markup(  # noqa: S704 - our own service's SVG, not user input
        svg.replace("<svg ", f'<svg role="img" viewBox="0 0 {width} {height}" ', 1)
    )


def phone_number(number: str | None) -> str:
    """A stored E.164 number as people write it: '+1 604-555-0100'."""
    if not number:
        return ""
    return phonenumbers.format_number(
        phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )


def item_label(code: str) -> str:
    """An item's short name from the item bank ('Bruising or bleeding' for bruise_bleed)."""
    item = item_bank().get(code)
    return item.label if item else code


def answer_text(value: Value, code: str) -> str:
    """An answer in words: 'yes', '3 of 10', 'Small bruise, smaller than a large coin'."""
    item = item_bank().get(code)
    return item.answer_label(value) if item else str(value)


def region_label(code: str) -> str:
    """A body region's name from regions.toml ('Lower leg and calf' for lower_leg)."""
    region = regions().get(code)
    return region.label if region else code


def side_label(code: str | None) -> str:
    """The side needled, in words ('Left side'); none: 'Side not recorded'."""
    return SIDE_LABELS.get(code or "", "Side not recorded")


def dose_text(
    needle_sites: int | None, retention_minutes: float | None, needle_diameter_mm: float | None
) -> str:
    """A treatment's dose in words: 'Dose: 8 needle sites, needles in 20 min, 0.25 mm
    needles' (what was recorded of it); none of it: 'Dose not recorded'."""
    parts = []
    if needle_sites is not None:
        parts.append(f"{needle_sites} needle site{'' if needle_sites == 1 else 's'}")
    if retention_minutes is not None:
        seconds = round(retention_minutes * 60)
        held = f"{seconds} s" if seconds < 60 else f"{retention_minutes:.1f}".removesuffix(".0")
        parts.append(f"needles in {held}" if seconds < 60 else f"needles in {held} min")
    if needle_diameter_mm is not None:
        parts.append(f"{needle_diameter_mm:.2f} mm needles")
    return f"Dose: {', '.join(parts)}" if parts else "Dose not recorded"


def source_label(code: str) -> str:
    """How an answer reached us, in words ('On paper')."""
    return SOURCE_LABELS.get(code, code)


FILTERS: dict[str, Callable[..., str]] = {
    "source_label": source_label,
    "side_label": side_label,
    "dose_text": dose_text,
    "item_label": item_label,
    "answer_text": answer_text,
    "region_label": region_label,
    "local_time": local_time,
    "clinic_time": _clinic_time,
    "phone_number": phone_number,
    "utc_iso": utc_iso,
    "local_input": local_input,
    "modality_label": modality_label,
    "percent": percent,
    "hours": hours,
    "number": number,
    "covariates": covariates,
    "scalable_svg": scalable_svg,
}
