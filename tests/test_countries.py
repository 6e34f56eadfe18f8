"""The country table: a patient's zone gives their country, the country its emergency number."""

from __future__ import annotations

import pytest

from server.protocols.countries import countries, country_of_zone, emergency_number_of

# one row per entry of countries.toml: a zone a patient there would choose, the country it
# gives, and the number they must be told. Written out here, not read from the table, so that
# a wrong number in the table fails a test
EXPECTED = [
    ("America/New_York", "US", "911"),
    ("America/Vancouver", "CA", "911"),
    ("America/Mexico_City", "MX", "911"),
    ("America/Puerto_Rico", "PR", "911"),
    ("Pacific/Guam", "GU", "911"),
    ("America/St_Thomas", "VI", "911"),
    ("Australia/Sydney", "AU", "000"),
    ("Pacific/Auckland", "NZ", "111"),
    ("Europe/London", "GB", "999"),
    ("Europe/Isle_of_Man", "IM", "999"),
    ("Europe/Jersey", "JE", "999"),
    ("Europe/Guernsey", "GG", "999"),
    ("Europe/Vienna", "AT", "112"),
    ("Europe/Brussels", "BE", "112"),
    ("Europe/Sofia", "BG", "112"),
    ("Europe/Zagreb", "HR", "112"),
    ("Asia/Nicosia", "CY", "112"),
    ("Europe/Prague", "CZ", "112"),
    ("Europe/Copenhagen", "DK", "112"),
    ("Europe/Tallinn", "EE", "112"),
    ("Europe/Helsinki", "FI", "112"),
    ("Europe/Paris", "FR", "112"),
    ("Europe/Berlin", "DE", "112"),
    ("Europe/Athens", "GR", "112"),
    ("Europe/Budapest", "HU", "112"),
    ("Europe/Dublin", "IE", "112"),
    ("Europe/Rome", "IT", "112"),
    ("Europe/Riga", "LV", "112"),
    ("Europe/Vilnius", "LT", "112"),
    ("Europe/Luxembourg", "LU", "112"),
    ("Europe/Malta", "MT", "112"),
    ("Europe/Amsterdam", "NL", "112"),
    ("Europe/Warsaw", "PL", "112"),
    ("Europe/Lisbon", "PT", "112"),
    ("Europe/Bucharest", "RO", "112"),
    ("Europe/Bratislava", "SK", "112"),
    ("Europe/Ljubljana", "SI", "112"),
    ("Europe/Madrid", "ES", "112"),
    ("Europe/Stockholm", "SE", "112"),
    ("Atlantic/Reykjavik", "IS", "112"),
    ("Europe/Oslo", "NO", "113"),
    ("Europe/Zurich", "CH", "144"),
    ("Europe/Vaduz", "LI", "144"),
    ("Europe/Istanbul", "TR", "112"),
    ("Asia/Tokyo", "JP", "119"),
    ("Asia/Seoul", "KR", "119"),
    ("Asia/Taipei", "TW", "119"),
    ("Asia/Shanghai", "CN", "120"),
    ("Asia/Hong_Kong", "HK", "999"),
    ("Asia/Singapore", "SG", "995"),
    ("Asia/Kuala_Lumpur", "MY", "999"),
    ("Asia/Kolkata", "IN", "112"),
    ("Asia/Manila", "PH", "911"),
    ("Asia/Jerusalem", "IL", "101"),
    ("Asia/Dubai", "AE", "998"),
    ("Africa/Johannesburg", "ZA", "10177"),
    ("America/Sao_Paulo", "BR", "192"),
    ("America/Argentina/Buenos_Aires", "AR", "107"),
]


@pytest.mark.parametrize(("zone", "country", "number"), EXPECTED)
def test_a_patient_in_a_zone_is_told_their_countrys_number(
    zone: str, country: str, number: str
) -> None:
    assert country_of_zone(zone) == country
    assert emergency_number_of(country) == number


def test_every_number_in_the_table_has_a_row_above() -> None:
    tabled = {code for code, country in countries().items() if country.emergency_number}
    assert tabled == {country for _, country, _ in EXPECTED}


@pytest.mark.parametrize(
    ("zone", "country"),
    [
        ("Australia/Perth", "AU"),
        ("Australia/NSW", "AU"),  # an old name, kept by IANA as a link
        ("US/Pacific", "US"),
        ("Canada/Eastern", "CA"),
        ("Asia/Calcutta", "IN"),
        ("GB", "GB"),
        ("NZ", "NZ"),
    ],
)
def test_every_zone_of_a_country_and_its_old_names_give_that_country(
    zone: str, country: str
) -> None:
    assert country_of_zone(zone) == country


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT+10", "EST5EDT", "Factory"])
def test_a_zone_of_no_country_gives_none(zone: str) -> None:
    assert country_of_zone(zone) is None


def test_a_country_missing_from_the_table_has_no_number_rather_than_a_guess() -> None:
    assert countries()["FJ"].name == "Fiji"
    assert emergency_number_of("FJ") is None
    assert emergency_number_of(None) is None
