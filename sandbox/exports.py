"""File exports of the sandbox: СЭД 59-ФЗ daily CSV and regional/municipal portal CSV/XLSX, with injected bad data.

Each source gets one bulk file per region with the history (state at the end of the day before the daily window)
and then one file per region per day for the last `DAILY_DAYS` days of the period: the appeals registered or changed
that day, in their state at the end of that (local) day. Headers, encodings and status wording are the contract
of docs/sources.md.
"""

import io
import json
import shutil
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dagster_project.lib.landing import file_sha256
from sandbox.arrow_utils import digits as _digits
from sandbox.arrow_utils import flat, ts_array
from sandbox.arrow_utils import join as _join
from sandbox.arrow_utils import take as _take
from sandbox.model import (
    ANSWER_SLOTS,
    CHANNELS,
    EXT,
    REDIR,
    RET,
    SLOT_STATUS,
    Model,
)

DAILY_DAYS = 30
DAY = 86_400

SED_COLUMNS = (
    "Рег. номер",
    "Дата регистрации",
    "Код классификатора",
    "Код региона",
    "ОКТМО",
    "Код органа",
    "Заявитель",
    "Телефон",
    "Эл. почта",
    "Адрес",
    "Текст обращения",
    "Статус",
    "Дата продления",
    "Кол-во перенаправлений",
    "Дата перенаправления",
    "Дата ответа",
    "Повторное",
    "Дата выгрузки",
)
PORTAL_COLUMNS = (
    "Номер",
    "Портал",
    "Дата создания",
    "Категория",
    "Подкатегория",
    "ОКТМО",
    "Исполнитель",
    "Заявитель",
    "Телефон",
    "Эл. почта",
    "Адрес",
    "Текст",
    "Статус",
    "Дата ответа",
    "Возвратов на доработку",
    "Оценка",
    "Дата изменения",
)
SED_STATUS = {
    "registered": "зарегистрировано",
    "in_work": "на рассмотрении",
    "extended": "продлено",
    "redirected": "перенаправлено",
    "answered": "дан ответ",
    "closed": "закрыто",
}
PORTAL_STATUS = {
    "registered": "новое",
    "in_work": "в работе",
    "answered": "ответ дан",
    "returned_for_rework": "возвращено на доработку",
    "closed": "закрыто",
    "reopened": "переоткрыто",
}
# How each region's portal exports its files: (format, encoding). Unlisted regions: UTF-8 CSV.
PORTAL_FORMATS = {"37": ("csv", "cp1251"), "56": ("csv", "cp1251"), "65": ("xlsx", None)}
DATE_FORMAT = "%d.%m.%Y %H:%M"
BAD_ROW_KINDS = ("bad_date", "unknown_category", "missing_id", "answer_before_registration", "future_date", "duplicate")
BAD_FILE_KINDS = ("wrong_encoding", "extra_column", "missing_column", "wrong_delimiter")
BAD_DATES = ("31.02.2024 10:00", "2024-13-45", "вчера", "00.00.0000 00:00", "12/31/2024 25:61")


def remove_previous_exports(inbox_dir: Path, manifest: Path) -> int:
    """Deletes the export files an earlier generation wrote (listed in `manifest` with their SHA-256) that are still in
    the inbox unchanged; a file the generator did not write, or one changed since, is never touched."""
    if not manifest.exists():
        return 0
    removed = 0
    for name, digest in json.loads(manifest.read_text()).items():
        path = Path(inbox_dir) / name
        if path.is_file() and not path.is_symlink() and file_sha256(path) == digest:
            path.unlink()
            removed += 1
    manifest.unlink()
    return removed


class Exporter:
    """Writes the exports into `inbox_dir/{sed,portal}` and lists them (name → SHA-256) in `manifest`, so that the next
    generation removes exactly its own files; it refuses to overwrite a file it did not write."""

    def __init__(self, model: Model, inbox_dir: Path, seed: int, bad_rate: float, manifest: Path):
        self.model = model
        self.bad_rate = bad_rate
        self.rng = np.random.default_rng([seed, 11])
        self.inbox_dir, self.manifest = Path(inbox_dir), Path(manifest)
        self.dirs = {"sed": self.inbox_dir / "sed", "portal": self.inbox_dir / "portal"}
        remove_previous_exports(self.inbox_dir, self.manifest)
        self.written: list[Path] = []
        for folder in self.dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        end_day = np.datetime64(model.end, "D")
        self.bulk_day = end_day - DAILY_DAYS
        self.window = self.bulk_day + 1 + np.arange(DAILY_DAYS)
        planned = [
            self._path(source, str(code), day)
            for source in self.dirs
            for code in model.region_codes
            for day in [self.bulk_day, *self.window]
        ]
        foreign = [str(path) for path in planned if path.exists() or path.is_symlink()]
        if foreign:  # checked before anything is written: a refused generation leaves the inbox as it was
            raise FileExistsError(
                f"{len(foreign)} files in the inbox were not written by the sandbox generator "
                f"(or were changed since), e.g. {foreign[0]}: refusing to overwrite them (move them "
                "away, or generate into another inbox)"
            )
        self.bulk_writers = {
            (source, str(code)): self._writer(source, str(code), self.bulk_day)
            for source in self.dirs
            for code in model.region_codes
        }
        self.daily: dict[tuple[str, str, np.datetime64], list[pa.Table]] = {}
        self.bad_rows = {kind: 0 for kind in BAD_ROW_KINDS}
        self.rows = {"sed": 0, "portal": 0}

    def add_chunk(self, chunk: dict) -> None:
        for source in ("sed", "portal"):
            rows = np.flatnonzero(chunk["channel"] == CHANNELS.index(source))
            self.rows[source] += len(rows)
            bulk_cutoff = _day_end_utc(self.bulk_day, chunk["offset"][rows])
            in_bulk = chunk["created"][rows] <= bulk_cutoff
            table = self._table(source, chunk, rows[in_bulk], bulk_cutoff[in_bulk], self.bulk_day)
            for region_code, part in _by_region(table, source):
                self.bulk_writers[(source, region_code)].write(self._inject_bad_rows(source, part))

            # Daily files: only appeals with something happening after the bulk cutoff are candidates.
            T, M = chunk["T"][rows], chunk["M"][rows]
            rated_at = np.where(chunk["rated"][rows], chunk["rated_at"][rows], -1)
            recent = (M & (T > bulk_cutoff[:, None])).any(axis=1) | (rated_at > bulk_cutoff)
            cand = rows[recent]
            local_days = (chunk["T"][cand] + chunk["offset"][cand][:, None]) // DAY
            local_rated = np.where(chunk["rated"][cand], (chunk["rated_at"][cand] + chunk["offset"][cand]) // DAY, -1)
            for day in self.window:
                d = day.astype(np.int64)
                member = (chunk["M"][cand] & (local_days == d)).any(axis=1)
                if source == "portal":
                    member |= local_rated == d
                sel = cand[member]
                table = self._table(source, chunk, sel, _day_end_utc(day, chunk["offset"][sel]), day)
                for region_code, part in _by_region(table, source):
                    self.daily.setdefault((source, region_code, day), []).append(part)

    def finish(self) -> dict:
        files = {"sed": 0, "portal": 0}
        for (source, _), writer in self.bulk_writers.items():
            if not writer.header_written:  # a region without history still gets its (empty) bulk file
                writer.write(_empty(SED_COLUMNS if source == "sed" else PORTAL_COLUMNS))
            writer.close()
            files[source] += 1
        bad_files = {}
        for source in ("sed", "portal"):
            keys = [(source, str(code), day) for code in self.model.region_codes for day in self.window]
            faults = self._file_faults(source, keys)
            for key in keys:
                parts = self.daily.get(key, [])
                columns = SED_COLUMNS if source == "sed" else PORTAL_COLUMNS
                table = pa.concat_tables(parts) if parts else _empty(columns)
                table = self._inject_bad_rows(source, table)
                writer = self._writer(source, key[1], key[2], fault=faults.get(key))
                writer.write(table)
                writer.close()
                files[source] += 1
                if key in faults:
                    bad_files[writer.path.name] = faults[key]
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        self.manifest.write_text(
            json.dumps({str(path.relative_to(self.inbox_dir)): file_sha256(path) for path in self.written}, indent=0)
        )
        return {
            "sed_appeals": self.rows["sed"],
            "portal_appeals": self.rows["portal"],
            "sed_files": files["sed"],
            "portal_files": files["portal"],
            "bad_rows": dict(self.bad_rows),
            "bad_files": bad_files,
        }

    def _file_faults(self, source: str, keys: list) -> dict:
        """Whole-file faults: with bad data switched on, each kind hits one daily file of the source."""
        if self.bad_rate <= 0:
            return {}
        csv_keys = [k for k in keys if _format(source, k[1])[0] == "csv"]
        chosen = self.rng.choice(len(csv_keys), len(BAD_FILE_KINDS), replace=False)
        return {csv_keys[i]: kind for i, kind in zip(chosen, BAD_FILE_KINDS)}

    def _writer(self, source: str, region_code: str, day: np.datetime64, fault: str | None = None) -> "_FileWriter":
        fmt, encoding = _format(source, region_code)
        path = self._path(source, region_code, day)
        self.written.append(path)
        return _FileWriter(path, fmt, encoding, bom=source == "sed", fault=fault)

    def _path(self, source: str, region_code: str, day: np.datetime64) -> Path:
        fmt, _ = _format(source, region_code)
        return self.dirs[source] / f"{source}_{region_code}_{str(day).replace('-', '')}.{fmt}"

    def _table(self, source: str, chunk: dict, rows: np.ndarray, cutoff: np.ndarray, day: np.datetime64) -> pa.Table:
        """The export rows of the given appeals in their state at `cutoff` (UTC seconds, per row)."""
        m = self.model
        T, M = chunk["T"][rows], chunk["M"][rows]
        offset = chunk["offset"][rows]
        vis = M & (T <= cutoff[:, None])
        last = vis.shape[1] - 1 - np.argmax(vis[:, ::-1], axis=1)
        last_at = T[np.arange(len(rows)), last]
        answer_vis = vis[:, ANSWER_SLOTS]
        answered_at = np.where(answer_vis, T[:, ANSWER_SLOTS], -1).max(axis=1)
        agency = np.where(vis[:, REDIR], chunk["final_agency"][rows], chunk["initial_agency"][rows])
        person = chunk["person"]
        take = pa.array(rows)
        gidx = chunk["base"] + rows
        region_code = _take(m.region_codes, chunk["region"][rows])
        oktmo = _take(m.muni_oktmo, chunk["muni"][rows])

        def local(seconds, valid=None):
            return _fmt(seconds + offset, valid)

        if source == "sed":
            export_at = np.full(len(rows), (day.astype(np.int64) + 1) * DAY - 60)
            return pa.table(
                {
                    "Рег. номер": _join("ОГ-", region_code, "-", _digits(gidx, 8)),
                    "Дата регистрации": local(chunk["created"][rows]),
                    "Код классификатора": pa.array(chunk["classifier_code"][rows], pa.string()),
                    "Код региона": region_code,
                    "ОКТМО": oktmo,
                    "Код органа": _take(m.agency_ids, agency),
                    "Заявитель": person["name"].take(take),
                    "Телефон": person["phone"].take(take),
                    "Эл. почта": pc.if_else(
                        pa.array(gidx % 3 == 0), pa.scalar(None, pa.string()), person["email"].take(take)
                    ),
                    "Адрес": chunk["address"].take(take),
                    "Текст обращения": chunk["text"].take(take),
                    "Статус": _take([SED_STATUS.get(s, s) for s in SLOT_STATUS], last),
                    "Дата продления": local(T[:, EXT], vis[:, EXT]),
                    "Кол-во перенаправлений": pa.array(vis[:, REDIR].astype(np.int64)).cast(pa.string()),
                    "Дата перенаправления": local(T[:, REDIR], vis[:, REDIR]),
                    "Дата ответа": local(answered_at, answered_at >= 0),
                    "Повторное": _take(("нет", "да"), chunk["is_repeat"][rows].astype(np.int64)),
                    "Дата выгрузки": _fmt(export_at),
                }
            )
        rated = chunk["rated"][rows] & (chunk["rated_at"][rows] <= cutoff)
        updated = np.where(rated, np.maximum(last_at, chunk["rated_at"][rows]), last_at)
        is_capital = m.muni_is_capital[chunk["muni"][rows]]
        municipal = is_capital & (gidx % 2 == 0)
        region_pos = chunk["region"][rows]
        regional_names = [f"Портал обратной связи: {name}" for name in m.ref.regions["region_name"]]
        municipal_names = [f"Наш город — {name}" for name in m.ref.regions["capital_name"]]
        return pa.table(
            {
                "Номер": _join("P", region_code, "-", _digits(gidx, 8)),
                "Портал": _take(regional_names + municipal_names, region_pos + municipal * len(regional_names)),
                "Дата создания": local(chunk["created"][rows]),
                "Категория": pa.array(chunk["category_code"][rows], pa.string()),
                "Подкатегория": pa.array(chunk["subcategory_code"][rows], pa.string()),
                "ОКТМО": oktmo,
                "Исполнитель": _take(m.agency_ids, agency),
                "Заявитель": person["name"].take(take),
                "Телефон": person["phone"].take(take),
                "Эл. почта": person["email"].take(take),
                "Адрес": chunk["address"].take(take),
                "Текст": chunk["text"].take(take),
                "Статус": _take([PORTAL_STATUS.get(s, s) for s in SLOT_STATUS], last),
                "Дата ответа": local(answered_at, answered_at >= 0),
                "Возвратов на доработку": pa.array(vis[:, RET].astype(np.int64)).cast(pa.string()),
                "Оценка": pa.array(chunk["rating"][rows], pa.int64(), mask=~rated).cast(pa.string()),
                "Дата изменения": local(updated),
            }
        )

    def _inject_bad_rows(self, source: str, table: pa.Table) -> pa.Table:
        """Spoil `bad_rate` of the rows, each in one way of BAD_ROW_KINDS."""
        n = table.num_rows
        bad = np.flatnonzero(self.rng.random(n) < self.bad_rate)
        if not len(bad):
            return table
        kinds = self.rng.integers(0, len(BAD_ROW_KINDS), len(bad))
        id_col, date_col, cat_col = (
            ("Рег. номер", "Дата регистрации", "Код классификатора")
            if source == "sed"
            else ("Номер", "Дата создания", "Категория")
        )
        cols = {name: table[name].to_numpy(zero_copy_only=False).astype(object) for name in table.column_names}
        duplicates = []
        for row, kind_no in zip(bad, kinds):  # only the spoiled rows (≈ bad_rate of the file) are looped over
            kind = BAD_ROW_KINDS[kind_no]
            self.bad_rows[kind] += 1
            if kind == "bad_date":
                cols[date_col][row] = BAD_DATES[row % len(BAD_DATES)]
            elif kind == "unknown_category":
                cols[cat_col][row] = "9999.0000.0000.0000" if source == "sed" else "unknown.42"
            elif kind == "missing_id":
                cols[id_col][row] = None
            elif kind == "answer_before_registration":
                registered = _parse(cols[date_col][row])
                cols["Дата ответа"][row] = (registered - timedelta(days=int(2 + row % 9))).strftime(DATE_FORMAT)
            elif kind == "future_date":
                registered = _parse(cols[date_col][row])
                cols[date_col][row] = registered.replace(
                    year=registered.year + 6, day=min(registered.day, 28)
                ).strftime(DATE_FORMAT)
            else:
                duplicates.append(row)
        spoiled = pa.table({name: pa.array(values, pa.string()) for name, values in cols.items()})
        if duplicates:
            spoiled = pa.concat_tables([spoiled, spoiled.take(pa.array(duplicates))])
        return spoiled


class _FileWriter:
    """Appends tables to one export file: CSV (`;`, UTF-8 with optional BOM or cp1251) or XLSX."""

    def __init__(self, path: Path, fmt: str, encoding: str | None, bom: bool, fault: str | None = None):
        self.path, self.fmt, self.fault = path, fmt, fault
        self.encoding = encoding or "utf-8"
        self.bom = bom
        self.delimiter = ";"
        if fault == "wrong_encoding":
            # СЭД must be UTF-8: cp1251 is wrong there; portals accept UTF-8 and cp1251, so they get UTF-16.
            self.encoding, self.bom = ("cp1251", False) if path.name.startswith("sed_") else ("utf-16", False)
        elif fault == "wrong_delimiter":
            self.delimiter = ","
        self.header_written = False
        self.rows_written = 0
        # XLSX: the sheet body is streamed to a side file and zipped with the package parts on close.
        self.file = open(path.with_name(path.name + ".sheet") if fmt == "xlsx" else path, "wb")

    def write(self, table: pa.Table) -> None:
        if self.fault == "extra_column":
            table = table.append_column("Комментарий оператора", pa.array(["выгрузка вручную"] * table.num_rows))
        elif self.fault == "missing_column":
            table = table.drop_columns(["ОКТМО"])
        if self.fmt == "xlsx":
            if not self.header_written:
                header = pa.table({name: [name] for name in table.column_names})
                self.file.write(_sheet_rows(header, 1).encode())
                self.rows_written = 1
            self.file.write(_sheet_rows(table, self.rows_written + 1).encode())
            self.rows_written += table.num_rows
        else:
            buffer = io.BytesIO()
            pacsv.write_csv(
                table,
                buffer,
                pacsv.WriteOptions(
                    include_header=not self.header_written, delimiter=self.delimiter, quoting_style="needed"
                ),
            )
            data = buffer.getvalue()
            if self.encoding != "utf-8":
                data = data.decode("utf-8").encode(self.encoding)
            if self.bom and not self.header_written:
                data = b"\xef\xbb\xbf" + data
            self.file.write(data)
        self.header_written = True

    def close(self) -> None:
        self.file.close()
        if self.fmt == "xlsx":
            sheet = Path(self.file.name)
            with zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED) as package:
                for name, content in XLSX_PARTS.items():
                    package.writestr(name, content)
                with package.open("xl/worksheets/sheet1.xml", "w") as out, open(sheet, "rb") as body:
                    out.write(XLSX_SHEET_HEAD.encode())
                    shutil.copyfileobj(body, out)
                    out.write(XLSX_SHEET_TAIL.encode())
            sheet.unlink()


def _format(source: str, region_code: str) -> tuple[str, str | None]:
    return ("csv", "utf-8") if source == "sed" else PORTAL_FORMATS.get(region_code, ("csv", "utf-8"))


def _day_end_utc(day: np.datetime64, offset: np.ndarray) -> np.ndarray:
    return (day.astype(np.int64) + 1) * DAY - 1 - offset


def _by_region(table: pa.Table, source: str):
    column = "Код региона" if source == "sed" else "Номер"
    codes = table[column] if source == "sed" else pc.utf8_slice_codeunits(table[column], 1, 3)
    for code in pc.unique(codes).to_pylist():
        yield code, table.filter(pc.equal(codes, code))


def _empty(columns) -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in columns})


def _parse(value: str) -> datetime:
    return datetime.strptime(value, DATE_FORMAT)


def _fmt(seconds: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Epoch seconds as `ДД.ММ.ГГГГ ЧЧ:ММ` (rearranging the ISO cast is much faster than strftime)."""
    iso = ts_array(seconds, valid).cast(pa.string())  # YYYY-MM-DD HH:MM:SS
    part = lambda a, b: pc.utf8_slice_codeunits(iso, a, b)  # noqa: E731
    return _join(part(8, 10), ".", part(5, 7), ".", part(0, 4), " ", part(11, 16))


# A minimal XLSX package (one sheet «Обращения», inline strings): written directly because a row-by-row
# writer is the slowest part of generating a million appeals.
XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Обращения" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}
XLSX_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
XLSX_SHEET_TAIL = "</sheetData></worksheet>"


def _sheet_rows(table: pa.Table, first_row: int) -> str:
    """SpreadsheetML <row> elements of the table, cells as inline strings (nulls are left out)."""
    if table.num_rows == 0:
        return ""
    row_no = pa.array(np.arange(first_row, first_row + table.num_rows)).cast(pa.string())
    cells = []
    for i, name in enumerate(table.column_names):
        value = flat(table[name])
        for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            value = pc.replace_substring(value, char, entity)
        cell = _join(
            '<c r="', _column_letter(i), row_no, '" t="inlineStr"><is><t xml:space="preserve">', value, "</t></is></c>"
        )
        cells.append(pc.if_else(pc.is_null(value), "", cell))
    rows = _join('<row r="', row_no, '">', *cells, "</row>")
    return "".join(rows.to_pylist())


def _column_letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else "A" + chr(ord("A") + index - 26)
