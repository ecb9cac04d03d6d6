"""Great Expectations Data Docs that work without internet.

GE's page templates take Bootstrap, jQuery, bootstrap-table, Font Awesome, Vega and GE's logo from CDNs: on an
isolated network the pages render unstyled and the index (a bootstrap-table that JavaScript fills from data in the
page) lists nothing. `make venv` vendors those files from npm into the venv (`python -m dagster_project.lib.data_docs
vendor`, versions pinned below); after every Data Docs build, `localize()` copies them into the site's
`static/vendor/` and points the pages at the copies.
"""

import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR_DIR = Path(sys.prefix) / "share" / "cur-data-docs-vendor"

# CDN URL in GE's templates → (npm package@version, file in the package). GE asks for the latest `vega@5`,
# `vega-lite@5`, `vega-embed@6`: pinned here to the latest of those majors. The 1.19.0 filter-control CSS of the
# index page is served from bootstrap-table 1.19.1 (a patch release; the JS beside it is 1.19.1 already).
ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap@4.3.1",
        "dist/css/bootstrap.min.css",
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap@4.3.1",
        "dist/js/bootstrap.min.js",
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js@1.12.9",
        "dist/umd/popper.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table@1.19.1",
        "dist/bootstrap-table.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table@1.19.1",
        "dist/bootstrap-table.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker@1.9.0",
        "dist/css/bootstrap-datepicker.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker@1.9.0",
        "dist/js/bootstrap-datepicker.min.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "@fortawesome/fontawesome-free@6.6.0",
        "css/all.min.css",
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "@forevolve/bootstrap-dark@1.1.0",
        "dist/css/bootstrap-prefers-dark.css",
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega@5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite@5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed@6.29.0", "build/vega-embed.min.js"),
}
# Folders a vendored file refers to by relative path (Font Awesome's CSS loads ../webfonts/*).
COMPANIONS = {"@fortawesome/fontawesome-free@6.6.0": ("webfonts",)}
# GE's logo from its S3 bucket (light and dark variant): the copy GE itself puts into the site's static/images.
GE_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/[^'\"\s)]*")
LOCAL_LOGO = "static/images/logo-long.png"
# Subresource-integrity and CORS attributes of the CDN tags: a file:// page cannot load a script with crossorigin set.
CDN_ATTRIBUTES = re.compile(r'\s+(?:integrity="[^"]*"|crossorigin="[^"]*")')
# GE's own links into static/ (favicon), which on validation pages climb one folder too few.
STATIC_LINK = re.compile(r"""(["'(])(?:\./|(?:\.\./)+)static/""")
# Any asset still taken from the network after localize(): a stylesheet, script, image or CSS url().
REMOTE_ASSET = re.compile(
    r"""(?:<script[^>]*\ssrc|<link[^>]*\shref|<img[^>]*\ssrc)=["']https?://|url\(['"]?https?://"""
)

log = logging.getLogger(__name__)


def _fingerprint() -> str:
    return hashlib.sha256(json.dumps([ASSETS, COMPANIONS], sort_keys=True).encode()).hexdigest()


def _packages() -> dict[str, set[str]]:
    """package@version → the paths to take from it."""
    wanted: dict[str, set[str]] = {}
    for package, path in ASSETS.values():
        wanted.setdefault(package, set()).add(path)
    for package, folders in COMPANIONS.items():
        wanted.setdefault(package, set()).update(folders)
    return wanted


def vendor(target: Path = VENDOR_DIR) -> None:
    """Fetch the pinned npm packages with `npm pack` and keep only the files the pages use, under
    target/<package@version>/<path>. Stops with a clear error when npm or a file is missing."""
    if not shutil.which("npm"):
        raise SystemExit("npm is needed to vendor the Data Docs assets (CSS/JS served locally): install Node.js/npm")
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="cur-npm-") as tmp:
        for package, paths in sorted(_packages().items()):
            print(f"data docs assets: {package}", flush=True)
            packed = (
                subprocess.run(
                    ["npm", "pack", package, "--silent", "--pack-destination", tmp],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            with tarfile.open(Path(tmp) / packed) as archive:
                members = [
                    m
                    for m in archive.getmembers()
                    if m.isfile() and any(m.name == f"package/{p}" or m.name.startswith(f"package/{p}/") for p in paths)
                ]
                missing = [p for p in paths if not any(m.name.startswith(f"package/{p}") for m in members)]
                if missing:
                    raise SystemExit(f"{package} has no {', '.join(missing)}: fix ASSETS in {__file__}")
                for member in members:
                    destination = staging / package / member.name.removeprefix("package/")
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    destination.write_bytes(archive.extractfile(member).read())
    (staging / "fingerprint").write_text(_fingerprint())
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def is_vendored(target: Path = VENDOR_DIR) -> bool:
    fingerprint = target / "fingerprint"
    return fingerprint.exists() and fingerprint.read_text() == _fingerprint()


def localize(site: Path, since: float, vendored: Path = VENDOR_DIR) -> int:
    """Point the site's pages written at or after `since` (epoch seconds; index.html always) at local copies of
    their CSS/JS/images. Returns the number of pages rewritten. Without vendored assets (a venv from before
    `make venv` vendored them) the pages keep their CDN links and a warning says so."""
    if not is_vendored(vendored):
        log.warning("Data Docs keep their CDN links: the assets are not vendored into %s (run `make venv`)", vendored)
        return 0
    static = site / "static" / "vendor"
    if not is_vendored(static):
        shutil.copytree(vendored, static, dirs_exist_ok=True)
    rewritten = 0
    for page in site.rglob("*.html"):
        if page.name != "index.html" and page.stat().st_mtime < since:
            continue
        html = page.read_text(encoding="utf-8")
        prefix = "../" * (len(page.relative_to(site).parts) - 1)
        local = html
        for url, (package, path) in ASSETS.items():
            local = local.replace(f'"{url}"', f'"{prefix}static/vendor/{package}/{path}"')
        local = GE_LOGO.sub(prefix + LOCAL_LOGO, local)
        local = STATIC_LINK.sub(lambda link: f"{link.group(1)}{prefix}static/", local)
        local = re.sub(
            r"<(?:script|link)[^>]*static/vendor/[^>]*>", lambda tag: CDN_ATTRIBUTES.sub("", tag.group(0)), local
        )
        if local != html:
            page.write_text(local, encoding="utf-8")
            rewritten += 1
        if REMOTE_ASSET.search(local):
            log.warning("%s still loads %s from the network", page, REMOTE_ASSET.search(local).group(0))
    return rewritten


if __name__ == "__main__":
    if sys.argv[1:] != ["vendor"]:
        raise SystemExit("usage: python -m dagster_project.lib.data_docs vendor")
    vendor()
