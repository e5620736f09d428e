"""A generated national directory of agencies (CSV), for the scale test and bench/bench_registry.py."""

from __future__ import annotations

import csv
import hashlib
import random
from pathlib import Path


def national_directory(path: Path, count: int = 111_339, seed: int = 20) -> list[str]:
    """``count`` distinct agencies, half written in each grammar, with Vietnamese names and a token
    hash each; returns the codes as written."""
    rnd = random.Random(seed)
    level1 = [f"{letter}{n:02d}" for letter in "GHKA" for n in range(1, 100)]
    seen: set[tuple[str, ...]] = set()
    units: list[tuple[str, ...]] = []
    for l1 in level1:
        seen.add((l1,))
        units.append((l1,))
    while len(units) < count:
        depth = rnd.choice((1, 2, 2, 3, 3, 3))
        groups = [f"{rnd.randint(1, 99):02d}"]
        if depth >= 2:
            groups.append(f"{rnd.randint(0 if depth == 3 else 1, 99):02d}")
        if depth == 3:
            groups.append(f"{rnd.randint(1, 999):03d}")
        unit = (rnd.choice(level1), *groups)
        if unit not in seen:
            seen.add(unit)
            units.append(unit)
    kinds = ["Sở Tài nguyên và Môi trường", "Ủy ban nhân dân xã", "Phòng Giáo dục và Đào tạo huyện",
             "Trường Trung học cơ sở", "Bệnh viện Đa khoa", "Văn phòng Hội đồng nhân dân"]
    codes = []
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["code", "name", "token_sha256"])
        for i, (l1, *groups) in enumerate(units):
            if i % 2:
                code = ".".join((l1, *groups))
            else:
                padded = groups + ["00", "00", "000"][len(groups):]
                code = f"{padded[2]}.{padded[1]}.{padded[0]}.{l1}"
            codes.append(code)
            writer.writerow([code, f"{kinds[i % len(kinds)]} số {i}", sha(f"token-{i}")])
    return codes


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
