"""Synthetic national ID numbers in each market country's real format, unique per country, with valid check digits.

- US, Social Security number, `123-45-6789`: area 001-899 except 666, group 01-99, serial 0001-9999.
- CA, Social Insurance Number, `123 456 782`: 9 digits, the first 1-7, the last a Luhn check digit.
- MX, CURP, `GOLM850312MDFRPR05`, 18 characters: the first surname's initial and first inner vowel, the second
  surname's and the given name's initials, birth date YYMMDD, sex H/M, birth state (DF for Mexico City), the
  first inner consonants of both surnames and the name, a differentiator (a digit for births before 2000, a
  letter from 2000) and RENAPO's check digit.
- CR, cédula de identidad, `1-0234-0567`: province 1-7, tomo 0001-1999, asiento 0001-0999.
- CO, cédula de ciudadanía, `1.023.456.789` for people born from 1988 (10 digits from 1.000.000.000), `52.345.678`
  (8 digits) before.
- ES, DNI `12345678Z` (8 digits and the mod-23 control letter) or, for foreign residents, NIE `X1234567L`.
- GB, National Insurance number, `AB 12 34 56 C`: two prefix letters (neither D, F, I, Q, U nor V, no O second,
  not BG, GB, KN, NK, NT, TN or ZZ), 6 digits, suffix A-D.
- BR, CPF, `123.456.789-09`: 9 digits (never all equal) and two mod-11 check digits.

Uniqueness (the `national_id_hmac` unique key): the number body of every format except the CURP is an affine
permutation of the client id over the country's number space, so two clients never share one. The CURP is built
from the person's names and birth date like the real one, so two people can share its first 16 characters; the
differentiator then counts them, as RENAPO's does.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np

# Multipliers coprime to each space size: client ids 1..N land far apart in the space, one to one.
_PERMUTATION_MULTIPLIER = 2_654_435_761  # Knuth's multiplicative-hash constant, a prime


def permute(client_ids: np.ndarray, space: int, offset: int) -> np.ndarray:
    """A one-to-one scramble of client ids into 0..space-1: ids below `space` never share a value."""
    ids = np.asarray(client_ids, dtype=np.int64)
    if ids.size and (int(ids.max()) >= space or int(ids.max()) >= 2**63 // _PERMUTATION_MULTIPLIER):
        raise ValueError(f"client ids up to {int(ids.max())} do not fit a national ID space of {space}")
    multiplier = _PERMUTATION_MULTIPLIER
    while np.gcd(multiplier, space) != 1:
        multiplier += 2
    return (ids * multiplier + offset) % space


def _digits(value: int, width: int) -> str:
    return f"{value:0{width}d}"


# --------------------------------------------------------------------------- US SSN

_SSN_AREAS = np.array([a for a in range(1, 900) if a != 666])


def us_ssn(client_ids: np.ndarray) -> list[str]:
    space = len(_SSN_AREAS) * 99 * 9999
    out = []
    for k in permute(client_ids, space, 7_777):
        area, rest = divmod(int(k), 99 * 9999)
        group, serial = divmod(rest, 9999)
        out.append(f"{_SSN_AREAS[area]:03d}-{group + 1:02d}-{serial + 1:04d}")
    return out


# --------------------------------------------------------------------------- CA SIN


def luhn_digit(body: str) -> int:
    """The Luhn check digit that makes body + digit valid."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled positions, counted from the right of the body
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def ca_sin(client_ids: np.ndarray) -> list[str]:
    out = []
    for k in permute(client_ids, 7 * 10**7, 3_141):
        first, rest = divmod(int(k), 10**7)
        body = f"{first + 1}{rest:07d}"
        digits = body + str(luhn_digit(body))
        out.append(f"{digits[:3]} {digits[3:6]} {digits[6:]}")
    return out


# --------------------------------------------------------------------------- CR cédula


def cr_cedula(client_ids: np.ndarray, provinces: np.ndarray) -> list[str]:
    out = []
    for k, province in zip(permute(client_ids, 1999 * 999, 271), provinces.tolist(), strict=True):
        tomo, asiento = divmod(int(k), 999)
        out.append(f"{province}-{tomo + 1:04d}-{asiento + 1:04d}")
    return out


# --------------------------------------------------------------------------- CO cédula


def _dotted(number: int) -> str:
    return f"{number:,}".replace(",", ".")


def co_cedula(client_ids: np.ndarray, birth_years: np.ndarray) -> list[str]:
    young = permute(client_ids, 10**8, 99_991)
    older = permute(client_ids, 9 * 10**7, 12_345)
    return [
        _dotted(1_000_000_000 + int(y)) if year >= 1988 else _dotted(10_000_000 + int(o))
        for y, o, year in zip(young, older, birth_years.tolist(), strict=True)
    ]


# --------------------------------------------------------------------------- ES DNI / NIE

DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni(client_ids: np.ndarray, foreign: np.ndarray) -> list[str]:
    out = []
    dni = permute(client_ids, 98_000_000, 5_003)
    nie = permute(client_ids, 30_000_000, 6_007)
    for k, n, is_foreign in zip(dni, nie, foreign.tolist(), strict=True):
        if is_foreign:  # the NIE's letter X, Y or Z counts as 0, 1 or 2 in front of the digits for the control letter
            prefix, number = divmod(int(n), 10_000_000)
            out.append(f"{'XYZ'[prefix]}{number:07d}{DNI_LETTERS[int(n) % 23]}")
        else:
            number = 1_000_000 + int(k)
            out.append(f"{number:08d}{DNI_LETTERS[number % 23]}")
    return out


# --------------------------------------------------------------------------- GB NINO

_NINO_FIRST = [c for c in "ABCEGHJKLMNOPRSTWXYZ"]
_NINO_SECOND = [c for c in "ABCEGHJKLMNPRSTWXYZ"]
_NINO_PREFIXES = [
    a + b for a in _NINO_FIRST for b in _NINO_SECOND if a + b not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
]


def gb_nino(client_ids: np.ndarray) -> list[str]:
    out = []
    for k in permute(client_ids, len(_NINO_PREFIXES) * 10**6 * 4, 4_242):
        prefix, rest = divmod(int(k), 10**6 * 4)
        number, suffix = divmod(rest, 4)
        d = f"{number:06d}"
        out.append(f"{_NINO_PREFIXES[prefix]} {d[:2]} {d[2:4]} {d[4:]} {'ABCD'[suffix]}")
    return out


# --------------------------------------------------------------------------- BR CPF


def cpf_digits(body: str) -> str:
    """The two check digits of a 9-digit CPF body."""
    first = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) * 10 % 11 % 10
    second = sum(int(d) * w for d, w in zip(body + str(first), range(11, 1, -1), strict=True)) * 10 % 11 % 10
    return f"{first}{second}"


def br_cpf(client_ids: np.ndarray) -> list[str]:
    out = []
    for k in permute(client_ids, 9 * 10**8, 8_888):
        number = 10**8 + int(k)
        if len(set(str(number))) == 1:  # 111.111.111 and the like are invalid; move them below the used range
            number //= 111_111_111
        body = f"{number:09d}"
        out.append(f"{body[:3]}.{body[3:6]}.{body[6:]}-{cpf_digits(body)}")
    return out


# --------------------------------------------------------------------------- MX CURP

CURP_ALPHABET = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
_VOWELS = set("AEIOU")
# RENAPO replaces the second letter of these four-letter starts with X (the official list, abridged).
_INCONVENIENT = frozenset(
    [
        "BACA",
        "BAKA",
        "BUEI",
        "BUEY",
        "CACA",
        "CACO",
        "CAGA",
        "CAGO",
        "CAKA",
        "CAKO",
        "COGE",
        "COGI",
        "COJA",
        "COJE",
        "COJI",
        "COJO",
        "COLA",
        "CULO",
        "FALO",
        "FETO",
        "GETA",
        "GUEI",
        "GUEY",
        "JETA",
        "JOTO",
        "KACA",
        "KACO",
        "KAGA",
        "KAGO",
        "KAKA",
        "KAKO",
        "KOGE",
        "KOGI",
        "KOJA",
        "KOJE",
        "KOJI",
        "KOJO",
        "KOLA",
        "KULO",
        "LILO",
        "LOCA",
        "LOCO",
        "LOKA",
        "LOKO",
        "MAME",
        "MAMO",
        "MEAR",
        "MEAS",
        "MEON",
        "MIAR",
        "MION",
        "MOCO",
        "MOKO",
        "MULA",
        "MULO",
        "NACA",
        "NACO",
        "PEDA",
        "PEDO",
        "PENE",
        "PIPI",
        "PITO",
        "POPO",
        "PUTA",
        "PUTO",
        "QULO",
        "RATA",
        "ROBA",
        "ROBE",
        "ROBO",
        "RUIN",
        "SENO",
        "TETA",
        "VACA",
        "VAGA",
        "VAGO",
        "VAKA",
        "VUEI",
        "VUEY",
        "WUEI",
        "WUEY",
    ]
)
_SKIPPED_NAMES = ("MARIA ", "MA ", "JOSE ", "J ")  # a compound given name starting so uses its second word
_PARTICLES = {
    "DA",
    "DAS",
    "DE",
    "DEL",
    "DER",
    "DI",
    "DIE",
    "DD",
    "EL",
    "LA",
    "LOS",
    "LAS",
    "LE",
    "LES",
    "MAC",
    "MC",
    "VAN",
    "VON",
    "Y",
}
MX_STATES = (
    ("DF", 0.62),
    ("MC", 0.18),
    ("PL", 0.04),
    ("HG", 0.03),
    ("MS", 0.03),
    ("GR", 0.03),
    ("VZ", 0.04),
    ("OC", 0.03),
)
"""Birth states of the Mexico City market's clients: Mexico City (DF), Estado de Mexico (MC) and neighbours."""


def _plain(text: str) -> str:
    """Upper case A-Z (Ñ as X, as the CURP writes it), accents and anything else dropped."""
    text = text.upper().replace("Ñ", "X")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if "A" <= ch <= "Z" or ch == " ").strip()


def _main_word(text: str) -> str:
    words = [w for w in _plain(text).split() if w not in _PARTICLES]
    return words[0] if words else "X"


def _given_name(text: str) -> str:
    plain = _plain(text) + " "
    for skipped in _SKIPPED_NAMES:
        if plain.startswith(skipped) and len(plain.split()) > 1:
            return _main_word(plain[len(skipped) :])
    return _main_word(plain)


def _inner_vowel(word: str) -> str:
    return next((ch for ch in word[1:] if ch in _VOWELS), "X")


def _inner_consonant(word: str) -> str:
    return next((ch for ch in word[1:] if ch not in _VOWELS), "X")


def curp_check_digit(first17: str) -> str:
    total = sum(CURP_ALPHABET.index(ch) * (18 - i) for i, ch in enumerate(first17))
    return str((10 - total % 10) % 10)


def curp_stem(
    surname: str, second_surname: str, given: str, birth: tuple[int, int, int], female: bool, state: str
) -> str:
    """The first 16 characters of a CURP: everything except the differentiator and the check digit."""
    s1, s2, name = _main_word(surname), _main_word(second_surname), _given_name(given)
    initials = s1[0] + _inner_vowel(s1) + s2[0] + name[0]
    if initials in _INCONVENIENT:
        initials = initials[0] + "X" + initials[2:]
    year, month, day = birth
    consonants = _inner_consonant(s1) + _inner_consonant(s2) + _inner_consonant(name)
    return f"{initials}{year % 100:02d}{month:02d}{day:02d}{'M' if female else 'H'}{state}{consonants}"


def curp(stem: str, birth_year: int, seen: dict[str, int]) -> str:
    """A full CURP for `stem`; `seen` counts the stems issued so far so equal stems get distinct differentiators."""
    count = seen.get(stem, 0)
    seen[stem] = count + 1
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if birth_year >= 2000 else "0123456789"
    if count >= len(letters):
        raise ValueError(f"more than {len(letters)} people share the CURP stem {stem}")
    first17 = stem + letters[count]
    return first17 + curp_check_digit(first17)


def mx_curp(
    surnames: Sequence[str],
    second_surnames: Sequence[str],
    given_names: Sequence[str],
    births: Sequence[tuple[int, int, int]],
    female: Sequence[bool],
    states: Sequence[str],
    seen: dict[str, int],
) -> list[str]:
    return [
        curp(curp_stem(s1, s2, g, b, f, st), b[0], seen)
        for s1, s2, g, b, f, st in zip(surnames, second_surnames, given_names, births, female, states, strict=True)
    ]
