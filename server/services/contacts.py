"""Whom a patient calls: the emergency number where they are, and their clinic's phone.

The emergency number is, in order: the patient's own (set by the clinic); for a patient in the
clinic's own country, the clinic's number or else that country's; for a patient elsewhere, their
country's from ``server/protocols/countries.toml``. A patient of no known country (a time zone
such as UTC) is taken to live where the clinic is. A patient in a country the table lacks is told
no number at all rather than another country's.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from server.errors import InvalidInput
from server.models import Clinic, Patient
from server.protocols.countries import DIALLABLE, countries, country_of_zone, emergency_number_of

# what the advice says where no number is known: true everywhere, unlike another country's number
UNKNOWN_EMERGENCY_NUMBER = "your local emergency number"
MAX_NUMBER_LENGTH = 20  # the columns' length


@dataclass(frozen=True)
class Phone:
    """A number as the patient reads it, and as a ``tel:`` link dials it."""

    display: str
    tel: str


@dataclass(frozen=True)
class Contacts:
    """The numbers a patient's screens show; None where there is nothing true to show."""

    emergency: Phone | None
    clinic: Phone | None


def patient_country(patient: Patient) -> str | None:
    """The patient's country as set, else the one their time zone is in."""
    return patient.country or country_of_zone(patient.timezone)


def clinic_country(clinic: Clinic) -> str | None:
    """The country of the clinic's time zone."""
    return country_of_zone(clinic.timezone)


def emergency_number(patient: Patient) -> str | None:
    """The number this patient should call in an emergency, if one is known."""
    if patient.emergency_number:
        return patient.emergency_number
    country, home = patient_country(patient), clinic_country(patient.clinic)
    if country in (None, home):
        return patient.clinic.emergency_number or emergency_number_of(home)
    return emergency_number_of(country)


def emergency_words(patient: Patient) -> str:
    """The emergency number as advice names it: the number, or words that are never wrong."""
    return emergency_number(patient) or UNKNOWN_EMERGENCY_NUMBER


def contacts_for(patient: Patient) -> Contacts:
    """The emergency number and the clinic's phone, written for this patient."""
    number = emergency_number(patient)
    emergency = Phone(number, _dialled(number)) if number else None
    clinic_phone = patient.clinic.phone
    if clinic_phone is None:
        return Contacts(emergency, None)
    parsed = phonenumbers.parse(clinic_phone)
    # a neighbour dials the national form; someone abroad needs the country code
    same_country = phonenumbers.region_code_for_number(parsed) == patient_country(patient)
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if same_country
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return Contacts(emergency, Phone(phonenumbers.format_number(parsed, style), clinic_phone))


def _dialled(number: str) -> str:
    return number.replace(" ", "").replace("-", "")


def check_emergency_number(number: str | None, *, field: str) -> str | None:
    """A number a phone can dial (digits, an optional leading +, spaces or hyphens), or None."""
    if number is None:
        return None
    if len(number) > MAX_NUMBER_LENGTH or not DIALLABLE.match(number):
        raise InvalidInput(
            "give up to 20 digits, such as 000 or 112 (spaces and hyphens allowed)", field=field
        )
    return number


def check_country(code: str | None, *, field: str = "country") -> str | None:
    """An ISO 3166-1 alpha-2 code such as AU (in capitals, as the API documents it), or None."""
    if code is None:
        return None
    if code not in countries():
        raise InvalidInput("not an ISO 3166 country code such as AU or GB", field=field)
    return code


def check_phone(number: str | None, *, country: str | None, field: str = "phone") -> str | None:
    """A phone number that can be dialled, in E.164 (``+61299990000``); local numbers are
    read as numbers of ``country``."""
    if number is None or not number.strip():
        return None
    try:
        parsed = phonenumbers.parse(number, country)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        how = "with its area code" if country else "with its country code, such as +61 2 9999 0000"
        raise InvalidInput(f"not a phone number that can be dialled; write it {how}", field=field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
