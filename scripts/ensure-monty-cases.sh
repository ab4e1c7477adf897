#!/usr/bin/env bash
# Make pydantic/monty's own test cases (crates/monty/test_cases/*.py) available for the corpus
# bench (python -m bench.corpus --cases DIR, `make bench` section 7). They ship in the
# pydantic-monty 0.0.19 sdist (later sdists dropped them): downloaded once with curl, checked
# against the pinned sha256, and only the test cases extracted into .cache/monty-cases/.
# Prints the directory. Fails soft: when the cases cannot be had, the directory holds an
# UNAVAILABLE file saying why (the bench shows it in the row) and the script still exits 0.
set -euo pipefail

URL="https://pypi.org/packages/packages/51/f8/c04df414086488834d102ab85cf8172c114108f842fb142ac92a490213fd/pydantic_monty-0.0.19.tar.gz"
SHA256="f3f9e256058b4085349dd4ad347795d5203a8310e9eaad9a2bff93890ac5b86d"
MEMBERS="pydantic_monty-0.0.19/crates/monty/test_cases"
COUNT=531

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${TERRARIUM_CACHE_DIR:-$ROOT/.cache}"
DEST="$CACHE/monty-cases"
LABEL="pydantic/monty's test cases"

if [ -f "$DEST/LABEL" ] && [ ! -f "$DEST/UNAVAILABLE" ] \
  && [ "$(find "$DEST" -maxdepth 1 -name '*.py' | wc -l)" -eq "$COUNT" ]; then
  echo "$DEST"
  exit 0
fi

unavailable() {
  echo "ensure-monty-cases: $1" >&2
  rm -rf "$DEST"
  mkdir -p "$DEST"
  echo "$LABEL" >"$DEST/LABEL"
  echo "$1" >"$DEST/UNAVAILABLE"
  echo "$DEST"
  exit 0
}

mkdir -p "$CACHE"
TMP="$(mktemp -d "$CACHE/monty-download.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
SDIST="$TMP/pydantic_monty-0.0.19.tar.gz"

command -v curl >/dev/null 2>&1 || unavailable "curl is not installed"
if ! curl -fsSL --retry 2 --max-time 120 -o "$SDIST" "$URL" 2>"$TMP/curl.err"; then
  unavailable "could not download the pydantic-monty 0.0.19 sdist ($(tail -n1 "$TMP/curl.err"))"
fi
GOT="$(sha256sum "$SDIST" | cut -d' ' -f1)"
[ "$GOT" = "$SHA256" ] || unavailable "the downloaded sdist's sha256 is $GOT, not $SHA256"

if ! tar -xzf "$SDIST" -C "$TMP" --wildcards "$MEMBERS/*.py" 2>"$TMP/tar.err"; then
  unavailable "could not extract the test cases ($(tail -n1 "$TMP/tar.err"))"
fi
rm -rf "$DEST"
mkdir -p "$DEST"
cp "$TMP/$MEMBERS"/*.py "$DEST/"
echo "$LABEL" >"$DEST/LABEL"
echo "$DEST"
