import pytest

from rupturekit.errors import InputError, ProblemLog
from rupturekit.source import decode_bytes


def decode(data: bytes):
    log = ProblemLog()
    return decode_bytes(data, "f.txt", log), [str(w) for w in log.warnings]


def test_utf8_decodes_without_warning():
    assert decode("T: naïve café\n".encode()) == ("T: naïve café\n", [])


def test_utf8_bom_is_kept_for_the_source_to_strip():
    text, warnings = decode(b"\xef\xbb\xbfT: hi")
    assert text == "\ufeffT: hi" and warnings == []


def test_cp1252_fallback_warns_with_the_line_of_the_first_bad_byte():
    text, warnings = decode("T: hello\nC: caf\xe9 \x93quoted\x94".encode("latin-1"))
    assert text == "T: hello\nC: café “quoted”"
    assert warnings == ["f.txt:line 2: not valid UTF-8; decoded as Windows cp1252 (check accented characters)"]


def test_utf16_with_bom_decodes():
    assert decode("T: hi\nC: hé".encode("utf-16")) == ("T: hi\nC: hé", [])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "f.txt: the file is empty; check the path, or re-export the transcript"),
        (b"  \n\t\n", "f.txt: the file is empty"),
        (b"T: hi\nC: \x00\x01\x02", "f.txt:line 2: binary or non-text file (NUL byte found); export the transcript as"),
        (b"%PDF-1.7\n...", "f.txt: this is a PDF document, not a text transcript"),
        (b"PK\x03\x04rest", "f.txt: this is a zip archive (for example .docx or .xlsx), not a text transcript"),
        (b"T: ok\nC: \x81\x8d\x8f", "f.txt:line 2: undecodable bytes (not UTF-8 at byte 9, not cp1252 at byte 9); "
                                   "re-save the file as UTF-8"),
    ],
)
def test_unreadable_input_is_one_clear_line(data, expected):
    with pytest.raises(InputError) as caught:
        decode(data)
    assert str(caught.value).startswith(expected)
