"""Whom a patient is told to call: the emergency number where they are, their clinic's phone."""

from __future__ import annotations

import pytest

from server.errors import InvalidInput
from server.models import Clinic, Patient
from server.services.contacts import (
    Phone,
    check_country,
    check_emergency_number,
    check_phone,
    contacts_for,
    emergency_number,
    emergency_words,
)


def patient(
    zone: str,
    *,
    clinic_zone: str = "America/Vancouver",
    clinic_number: str | None = None,
    clinic_phone: str | None = None,
    country: str | None = None,
    own_number: str | None = None,
) -> Patient:
    clinic = Clinic(
        name="Harbour Physio",
        timezone=clinic_zone,
        emergency_number=clinic_number,
        phone=clinic_phone,
    )
    return Patient(
        code="P-1", timezone=zone, clinic=clinic, country=country, emergency_number=own_number
    )


def test_a_patient_in_sydney_of_a_clinic_in_vancouver_is_told_000() -> None:
    assert emergency_number(patient("Australia/Sydney")) == "000"


def test_a_clinics_own_number_is_for_patients_in_its_own_country() -> None:
    assert emergency_number(patient("America/Toronto", clinic_number="604-555-0199")) == (
        "604-555-0199"
    )


def test_a_clinics_own_number_never_reaches_a_patient_abroad() -> None:
    assert emergency_number(patient("Australia/Sydney", clinic_number="604-555-0199")) == "000"


def test_a_country_set_for_the_patient_outweighs_their_zone() -> None:
    assert emergency_number(patient("Europe/Berlin", country="GB")) == "999"


def test_a_patient_of_no_known_country_is_told_the_clinics_countrys_number() -> None:
    assert emergency_number(patient("UTC")) == "911"
    assert emergency_number(patient("UTC", clinic_number="144")) == "144"


def test_the_patients_own_number_outweighs_every_other() -> None:
    sydney = patient("Australia/Sydney", clinic_number="144", own_number="112")
    assert emergency_number(sydney) == "112"


def test_with_no_number_known_the_advice_says_so_in_words() -> None:
    nowhere = patient("UTC", clinic_zone="UTC")
    assert emergency_number(nowhere) is None
    assert emergency_words(nowhere) == "your local emergency number"
    assert contacts_for(nowhere).emergency is None


def test_a_patient_in_a_country_not_in_the_table_is_never_given_the_clinics_number() -> None:
    fiji = patient("Pacific/Fiji", clinic_number="604-555-0199")
    assert emergency_number(fiji) is None


def test_the_clinics_phone_reads_as_a_neighbour_dials_it_and_links_to_e164() -> None:
    contacts = contacts_for(patient("America/Vancouver", clinic_phone="+16045550142"))
    assert contacts.clinic == Phone(display="(604) 555-0142", tel="+16045550142")
    assert contacts.emergency == Phone(display="911", tel="911")


def test_a_patient_abroad_reads_the_clinics_phone_with_its_country_code() -> None:
    contacts = contacts_for(patient("Australia/Sydney", clinic_phone="+16045550142"))
    assert contacts.clinic == Phone(display="+1 604-555-0142", tel="+16045550142")


def test_a_number_written_with_separators_is_dialled_without_them() -> None:
    contacts = contacts_for(patient("America/Vancouver", own_number="604 555-0199"))
    assert contacts.emergency == Phone(display="604 555-0199", tel="6045550199")


def test_no_clinic_phone_gives_none() -> None:
    assert contacts_for(patient("America/Vancouver")).clinic is None


@pytest.mark.parametrize(
    ("written", "country", "stored"),
    [
        ("(02) 9374 4000", "AU", "+61293744000"),
        ("+61 2 9374 4000", None, "+61293744000"),
        ("604-555-0142", "CA", "+16045550142"),
    ],
)
def test_a_clinic_phone_is_stored_in_e164(written: str, country: str | None, stored: str) -> None:
    assert check_phone(written, country=country) == stored


@pytest.mark.parametrize(
    ("written", "country"), [("12", "AU"), ("9374 4000", None), ("call us", "AU"), ("+999 1", None)]
)
def test_a_phone_that_cannot_be_dialled_is_refused_naming_the_field(
    written: str, country: str | None
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_phone(written, country=country)
    assert list(refused.value.errors) == ["phone"]


@pytest.mark.parametrize("number", ["000", "112", "604-555-0199", "+44 20 7946 0000"])
def test_an_emergency_number_is_digits_with_optional_separators(number: str) -> None:
    assert check_emergency_number(number, field="emergency_number") == number


@pytest.mark.parametrize(
    "number", ["9", "call 911", "911 or 112", "0" * 25, "--112", "1 2 3 4 5 6 7 8 9 0 1"]
)
def test_an_emergency_number_that_cannot_be_dialled_is_refused(number: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_emergency_number(number, field="emergency_number")
    assert "digits" in refused.value.errors["emergency_number"][0]


def test_a_country_is_an_iso_code_in_capitals() -> None:
    assert check_country("AU") == "AU"
    assert check_country(None) is None
    with pytest.raises(InvalidInput):
        check_country("au")
    with pytest.raises(InvalidInput) as refused:
        check_country("Australia")
    assert list(refused.value.errors) == ["country"]
