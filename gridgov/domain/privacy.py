"""What the public may read about a citizen request: personal information masked.

In the spirit of China's Personal Information Protection Law (个人信息保护法: minimum
necessary, de-identification before publication), the public Open311 feed never shows a
mobile or landline number, a resident ID number (身份证号), a vehicle plate (车牌) or an
e-mail address found in a description written by a citizen or typed by a hotline operator.
Each is masked in place, keeping just enough to read the text (``138****5678``,
``粤B*****``, ``z***@example.com``, ``[身份证号]``). Keyed readers with a role that may see the
case read the original through ``/v1``. See docs/api.md, "Privacy of the public feed".
"""

from __future__ import annotations

import re

# 18-digit resident ID (6 region + 8 birth date + 3 + check digit) and the old 15-digit form.
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
    r"[\dXx]|\d{8}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?![0-9A-Za-z])"
)
# Mainland mobiles (1[3-9]x, optionally +86 / spaces / dashes) and landlines (0xx-xxxxxxxx).
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[ -]?(\d{3,4})[ -]?(\d{4})(?!\d)")
_PLATE = re.compile(
    r"([京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼])\s?([A-Z])[·• ]?"
    r"[A-HJ-NP-Z0-9]{5,6}(?![A-Za-z0-9])"
)
_EMAIL = re.compile(r"([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_personal(text: str) -> str:
    """``text`` with phone numbers, ID numbers, plates and e-mail addresses masked."""
    text = _ID_CARD.sub("[身份证号]", text)
    text = _EMAIL.sub(lambda m: f"{m[1]}***@{m[2]}", text)
    text = _MOBILE.sub(lambda m: f"{m[1]}****{m[3]}", text)
    text = _LANDLINE.sub(lambda m: f"{m[1]}-****{m[3][-2:]}", text)
    return _PLATE.sub(lambda m: f"{m[1]}{m[2]}*****", text)


def coarse(value: float | None, decimals: int | None) -> float | None:
    """A coordinate rounded to ``decimals`` places (3 ≈ 110 m, 2 ≈ 1.1 km); None: as is."""
    if value is None or decimals is None:
        return value
    return round(value, decimals)


def public_url(url: str | None) -> str | None:
    """Only http(s) links are served (no ``javascript:``, ``data:``, ``file:``)."""
    if url and re.match(r"(?i)https?://[^\s/]+", url):
        return url
    return None
