"""Charades annotation CSVs (``Charades_v1_{train,test}.csv``), read for the converters
whose questions are about Charades videos (STAR, AGQA).

Why one reader: both benchmarks take their event targets from the same files, so the CSV
handling (header check, file:line errors, a video listed twice) must not drift apart.
What differs stays with the caller: which columns it needs and what it makes of a row
(STAR keeps the raw action ids and maps them to its own classes; AGQA checks the
Charades ``c`` ids and keeps each video's length). The CSV's columns: docs/data_formats.md
§1.1.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from gf.common.io import DataFileError, read_text_utf8

__all__ = ["parse_charades_actions", "read_charades_csvs"]


def parse_charades_actions(text: Optional[str], where: str) -> List[Tuple[str, float, float]]:
    """``"c092 11.90 21.20;c147 0.00 12.60"`` -> [(id, start_s, end_s)]; empty or ``None`` (no cell) -> []."""
    out = []
    for item in (text or "").split(";"):
        item = item.strip()
        if not item:
            continue
        parts = item.split()
        try:
            if len(parts) != 3:
                raise ValueError
            start, end = float(parts[1]), float(parts[2])
        except ValueError:
            raise DataFileError(f"{where}: action {item!r} is not '<id> <start_s> <end_s>'") from None
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise DataFileError(f"{where}: action {item!r} has end before start or non-finite times")
        out.append((parts[0], start, end))
    return out


def read_charades_csvs(paths: Sequence[Union[str, Path]], entry: Callable[[Mapping[str, str], str], Any],
                       columns: Sequence[str] = ("id", "actions")) -> Dict[str, Any]:
    """``{video_id: entry(row, "<file>:<line>")}`` over every row of every CSV in ``paths``.

    ``columns`` must all be in each file's header. A video listed twice (in one file or
    across files) must give the same entry both times, since the two copies could not
    both be the truth. Errors name the file and the line (a file that is not UTF-8 too).
    """
    videos: Dict[str, Any] = {}
    origin: Dict[str, str] = {}
    compared = " or ".join(c for c in columns if c != "id")
    for path in map(Path, paths):
        for row, where in _csv_rows(path, columns):
            vid = (row.get("id") or "").strip()
            if not vid:
                raise DataFileError(f"{where}: column 'id' is empty")
            value = entry(row, where)
            if vid in videos and videos[vid] != value:
                raise DataFileError(f"{where}: video {vid!r} is also listed at {origin[vid]} with "
                                    f"different {compared}")
            videos[vid] = value
            origin.setdefault(vid, where)
    return videos


def _csv_rows(path: Path, columns: Sequence[str]) -> Iterator[Tuple[Dict[str, str], str]]:
    """``(row, "<file>:<line>")`` for each row of one CSV, after checking its header. What
    the csv module cannot parse (a field over its size limit, a stray quote in strict mode)
    is a DataFileError naming the line, not a ``_csv.Error`` traceback."""
    text = read_text_utf8(path, "Charades annotation CSV")
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise DataFileError(f"{path}:1: missing column(s) {', '.join(missing)}; expected the Charades "
                                    f"annotation header (id, ..., length, actions), with actions like "
                                    f"\"c092 11.90 21.20;...\"")
            for row in reader:
                yield row, f"{path}:{reader.line_num}"
        except csv.Error as e:  # line_num counts the rows read whole: the bad one starts on the next line
            raise DataFileError(f"{path}:{reader.line_num + 1}: not a readable CSV row ({e}); the Charades "
                                f"annotation CSV has short fields, so this file is damaged or not that CSV") from None
