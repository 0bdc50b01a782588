"""Numbers into identifiers: order numbers per channel, and the fixed-width encodings the
bijections use."""

from datetime import date

from crm.demo.vocabulary import _SHOPEE_A, _SHOPEE_ALPHABET, _SHOPEE_B, _SHOPEE_MOD


class _OrderNumbers:
    """Order numbers in the shapes of formats/README.md, unique per channel by per-day counters.

    TPE01-20250312-0042 (store), W2025031200017 (web), APP2025031200003 (app),
    shopee:250312K7Q2ZB9X and momo:20250313000123 (marketplace).
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def _next(self, prefix: str) -> int:
        seq = self._last.get(prefix, 0) + 1
        self._last[prefix] = seq
        return seq

    def store(self, *, store_code: str, local_day: date) -> str:
        prefix = f"{store_code}-{local_day:%Y%m%d}-"
        return f"{prefix}{self._next(prefix):04d}"

    def web(self, *, local_day: date) -> str:
        prefix = f"W{local_day:%Y%m%d}"
        return f"{prefix}{self._next(prefix):05d}"

    def app(self, *, local_day: date) -> str:
        prefix = f"APP{local_day:%Y%m%d}"
        return f"{prefix}{self._next(prefix):05d}"

    def marketplace(self, *, platform: str, local_day: date) -> str:
        if platform == "shopee":
            prefix = f"shopee:{local_day:%y%m%d}"
            scrambled = (_SHOPEE_A * self._next(prefix) + _SHOPEE_B) % _SHOPEE_MOD
            return prefix + _encode(scrambled, alphabet=_SHOPEE_ALPHABET, width=8)
        prefix = f"momo:{local_day:%Y%m%d}"
        return f"{prefix}{self._next(prefix):06d}"


def _encode(value: int, *, alphabet: str, width: int) -> str:
    base = len(alphabet)
    chars = []
    for _ in range(width):
        value, digit = divmod(value, base)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))
