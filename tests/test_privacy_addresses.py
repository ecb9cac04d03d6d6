"""Addresses keep street and house only (152-ФЗ minimisation): every form the sources use, forms they might use,
quarantine payloads and `_extra`, and the landed rows of a real file export."""

import csv
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_extract_units import SED_ROW

from dagster_project.defs.extract.files import extract_files
from dagster_project.defs.extract.load_result import LoadResult
from dagster_project.defs.extract.specs import SED_APPEALS
from dagster_project.lib import paths, pii
from sandbox import texts

# (as sent, as landed): hand-written, not derived from the rules under test.
FORMS = [
    # the sandbox's own forms
    ("г. Южно-Сахалинск, ул. Ленина, д. 5, кв. 12", "г. Южно-Сахалинск, ул. Ленина, д. 5"),
    ("Корсаковский городской округ, пр-кт Победы, д. 119", "Корсаковский городской округ, пр-кт Победы, д. 119"),
    ("г. Иваново, ул. 50 лет Октября, д. 7, кв. 199", "г. Иваново, ул. 50 лет Октября, д. 7"),
    # apartments, rooms, entrances, floors, offices, in the many ways people write them
    ("ул. Мира, д. 3, кв.45", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3 кв 45", "ул. Мира, д. 3"),
    ("ул. Мира, д.3кв.45", "ул. Мира, д.3"),
    ("ул. Мира, д. 3, КВ. 45", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, кв№45", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, кв. № 45а", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, квартира 45", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, кв-ра 45", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, кв-12", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, под. 2, эт. 5, кв. 45", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, подъезд 2, этаж 5", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, 2 подъезд, 5 этаж, кв. 45", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, 2-й подъезд, 5-й этаж", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3; кв. 45", "ул. Мира, д. 3"),
    ("общ. № 4, комн. 312", "общ. № 4"),
    ("ул. Мира, д. 3, ком. 5", "ул. Мира, д. 3"),
    ("ул. Мира, д. 3, комната 5", "ул. Мира, д. 3"),
    ("пр-кт Ленина, д. 10, оф. 301", "пр-кт Ленина, д. 10"),
    ("пр-кт Ленина, д. 10, офис 301", "пр-кт Ленина, д. 10"),
    ("пр-кт Ленина, д. 10, пом. 1Н", "пр-кт Ленина, д. 10"),
    ("пр-кт Ленина, д. 10, каб. 12", "пр-кт Ленина, д. 10"),
    ("ул. Мира, д. 5-12", "ул. Мира, д. 5"),
    ("ул. Мира, дом №7а - 15", "ул. Мира, дом №7а"),
    ("ул. Мира, 5, 12", "ул. Мира, 5"),
    ("ул. Мира, д. 5, корп. 2, 17", "ул. Мира, д. 5, корп. 2"),
    ("кв. 12, ул. Ленина, д. 5", "ул. Ленина, д. 5"),
    ("а/я 15, г. Иваново", "г. Иваново"),
    ("кв. 7", None),
    # the house number and its parts stay
    ("мкр. Северный, д. 3, корп. 2, кв. 7", "мкр. Северный, д. 3, корп. 2"),
    ("ул. Мира, д. 3, стр. 1, кв. 2", "ул. Мира, д. 3, стр. 1"),
    ("пр-кт Победы, д. 12/3, кв 45", "пр-кт Победы, д. 12/3"),
    ("ул. Мира, д. 5, к. 2", "ул. Мира, д. 5, к. 2"),
    ("ул. 8 Марта, 5", "ул. 8 Марта, 5"),
    ("693000, г. Южно-Сахалинск, ул. Ленина, д. 5", "693000, г. Южно-Сахалинск, ул. Ленина, д. 5"),
    # streets whose names begin like a marker are not cut
    ("ул. Подъездная, д. 1", "ул. Подъездная, д. 1"),
    ("ул. Комсомольская, д. 4", "ул. Комсомольская, д. 4"),
    ("ул. Этажная, д. 4", "ул. Этажная, д. 4"),
    ("ул. Кабинетная, д. 4", "ул. Кабинетная, д. 4"),
    ("ул. Офицерская, д. 4", "ул. Офицерская, д. 4"),
    ("кв-л Солнечный, д. 2", "кв-л Солнечный, д. 2"),
    ("5-этажный дом у рынка", "5-этажный дом у рынка"),
    # foreign forms
    ("12 Baker St, Apt. 4B", "12 Baker St"),
    ("Flat 3, 12 Baker St", "12 Baker St"),
    ("12 Flatbush Ave, 3rd floor, Room 301", "12 Flatbush Ave"),
    ("Unit 5, 1 United Rd", "1 United Rd"),
    ("1 Main St, Suite 300", "1 Main St"),
    ("1 Main St #12", "1 Main St"),
    ("Lenina str. 5, office 12", "Lenina str. 5"),
    # empty and missing
    ("", None),
    ("   ", None),
    (None, None),
]
APARTMENT_MARKERS = ("кв.", "кв ", "квартир", "под.", "подъезд", "эт.", "этаж,", "комн", "офис", "оф.", "apt", "flat ")


@pytest.mark.parametrize(("sent", "landed"), FORMS)
def test_every_address_form_keeps_street_and_house_only(sent, landed):
    assert pii.generalize_address(sent) == landed


def test_a_whole_column_at_once_matches_one_by_one():
    column = pa.array([sent for sent, _ in FORMS], pa.string())
    generalized = pii.generalize_addresses(pa.chunked_array([column[:10], column[10:]])).to_pylist()
    assert generalized == [line for _, line in FORMS]


def test_every_sandbox_town_and_street_with_and_without_an_apartment():
    """The generator's address form (_addresses): «<town>, <street>, д. N[, кв. M]» for every town and street."""
    with (paths.SEEDS_DIR / "municipalities.csv").open(encoding="utf-8") as f:
        towns = [row["municipality_name"].replace("город ", "г. ") for row in csv.DictReader(f)]
    houses = [
        f"{town}, {street}, д. {(i % 119) + 1}"
        for i, (town, street) in enumerate((t, s) for t in towns for s in texts.STREETS)
    ]
    flats = [f"{house}, кв. {(i % 199) + 1}" for i, house in enumerate(houses)]
    assert pii.generalize_addresses(pa.array(houses + flats)).to_pylist() == houses + houses


def test_quarantine_payloads_and_extra_fields_are_generalised_too():
    payload = {
        "Рег. номер": "ОГ-1",
        "Адрес": "ул. Мира, д. 3, кв. 45",
        "Заявитель": "Иванов И.И.",
        "nested": {"postalAddress": "ул. Ленина, д. 5, под. 2, кв. 7", "address_note": "кв. 3"},
        "Текст обращения": "течёт крыша",
    }
    masked = json.loads(pii.masked_json(payload))
    assert masked["Адрес"] == "ул. Мира, д. 3"
    assert masked["nested"] == {"postalAddress": "ул. Ленина, д. 5", "address_note": None}
    assert masked["Заявитель"] == "[персональные данные]" and masked["Текст обращения"] == "течёт крыша"


def test_a_file_export_lands_and_quarantines_without_apartments(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("CUR_INBOX_DIR", raising=False)
    row = SED_ROW | {"Адрес": "г. Саратов, ул. Мира, д. 1, кв. 17"}
    broken = row | {
        "Рег. номер": "ОГ-64-00000002",
        "Дата регистрации": "31.02.2024 10:00",
        "Адрес": "ул. Мира, д. 2, эт. 3, кв. 9",
    }
    export = paths.inbox_dir("sed") / "sed_64_20250120.csv"
    export.parent.mkdir(parents=True)
    with export.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row), delimiter=";")
        writer.writeheader()
        writer.writerows([row, broken])
    result = LoadResult(SED_APPEALS.name)
    extract_files(SED_APPEALS, paths.inbox_dir("sed"), result, key=b"test-key", run_id="run-1")
    assert (result.landed, result.quarantined) == (1, 1)
    (part,) = [p for p in paths.raw_dir("sed_appeals").glob("*/*.parquet") if "empty" not in p.name]
    assert [r["address"] for r in pq.read_table(part).to_pylist()] == ["г. Саратов, ул. Мира, д. 1"]
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        (payload,) = con.execute("select payload_masked from ops.quarantine").fetchone()
    assert json.loads(payload)["Адрес"] == "ул. Мира, д. 2"
    for marker in APARTMENT_MARKERS:
        assert marker not in payload.lower()
