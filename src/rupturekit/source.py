"""Reading a file's bytes and decoding them, with the checks every reader needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rupturekit.errors import InputError, ProblemLog

SUPPORTED_HINT = "export the transcript as .txt, .vtt, .srt, .json (Whisper), .eaf, .csv/.tsv or .jsonl"

# Magic numbers of files that people plausibly pass by mistake.
_MAGIC = {
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive (for example .docx or .xlsx)",
    b"\xd0\xcf\x11\xe0": "an old Office document (.doc or .xls)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"ID3": "an MP3 audio file",
    b"RIFF": "a RIFF media file (for example .wav)",
    b"\x1a\x45\xdf\xa3": "a Matroska/WebM media file",
    b"PAR1": "a Parquet file",
}


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_bytes(data: bytes, file: str, log: ProblemLog) -> str:
    """Decode a text file: UTF-8, then UTF-8 with BOM, then cp1252 (with a warning).

    UTF-16 with a BOM (Word's "Unicode text") is decoded too. Anything else is an
    InputError that names the line of the first bad byte.
    """
    if not data.strip():
        raise InputError(file, "the file is empty", "check the path, or re-export the transcript")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            raise InputError(file, f"this is {kind}, not a text transcript", SUPPORTED_HINT)
    nul = data.find(b"\x00")
    if nul != -1:
        raise InputError(file, "binary or non-text file (NUL byte found)", SUPPORTED_HINT,
                         location=f"line {_line_of_offset(data, nul)}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            utf8_error = exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InputError(
            file,
            f"undecodable bytes (not UTF-8 at byte {utf8_error.start}, not cp1252 at byte {exc.start})",
            "re-save the file as UTF-8",
            location=f"line {_line_of_offset(data, exc.start)}",
        ) from None
    log.warn(file, "not valid UTF-8; decoded as Windows cp1252 (check accented characters)",
             location=f"line {_line_of_offset(data, utf8_error.start)}")
    return text


@dataclass
class Source:
    """One input file: its path as the user gave it, its bytes, and (lazily) its text."""

    path: Path
    log: ProblemLog = field(default_factory=ProblemLog)
    _data: bytes | None = None
    _text: str | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def data(self) -> bytes:
        if self._data is None:
            try:
                self._data = self.path.read_bytes()
            except OSError as exc:
                raise InputError(self.name, f"cannot read the file ({exc.strerror})",
                                 "check the path and its permissions") from None
        return self._data

    @property
    def text(self) -> str:
        if self._text is None:
            text = decode_bytes(self.data, self.name, self.log)
            self._text = text[1:] if text.startswith("\ufeff") else text
        return self._text

    @property
    def stem(self) -> str:
        return self.path.stem
