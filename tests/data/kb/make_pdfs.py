#!/usr/bin/python3
"""Writes the PDF fixtures of tests/kb/document_test.cpp (run from this folder; stdlib only).

two_pages.pdf  two pages of known text in Helvetica (WinAnsi, so "caf\\351" is "café") with an
               info dictionary (Title, Author, Keywords)
no_text.pdf    one page that draws a rectangle and no text
encrypted.pdf  standard security handler, revision 2 (40-bit RC4), user password "secret"
corrupt.pdf    a PDF header followed by junk
truncated.pdf  the first 60% of two_pages.pdf
"""
import hashlib

PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def rc4(key, data):
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for b in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(b ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def pdf(objects, trailer_extra=b""):
    """objects: bodies of objects 1..n (bytes). Returns the file with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1) + trailer_extra + b">>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream(data):
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def text_page(lines):
    ops = b"BT /F1 12 Tf 72 720 Td 16 TL\n"
    for line in lines:
        ops += b"(" + line + b") '\n"
    return ops + b"ET"


def pages(contents, info=None, trailer_extra=b""):
    """A document with one page per content stream; objects: catalog, pages, font, info?, then
    page and content pairs."""
    n_fixed = 4 if info else 3
    kids = [n_fixed + 1 + 2 * i for i in range(len(contents))]
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids) + b"] /Count %d >>" % len(kids),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    if info:
        objs.append(info)
        trailer_extra += b"/Info 4 0 R "
    for i, c in enumerate(contents):
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (kids[i] + 1))
        objs.append(stream(c))
    return pdf(objs, trailer_extra)


def main():
    two = pages(
        [text_page([b"Alpha page one says hello.", b"The caf\351 opens at nine."]),
         text_page([b"Beta page two: the quick brown fox.", b"It jumps over the lazy dog."])],
        info=b"<< /Title (Two Page Fixture) /Author (kbdocs) /Keywords (fixture, pdf) "
             b"/CreationDate (D:20260102030405Z) >>")
    open("two_pages.pdf", "wb").write(two)
    open("truncated.pdf", "wb").write(two[: len(two) * 6 // 10])
    open("no_text.pdf", "wb").write(pages([b"0 0 1 rg 100 100 200 200 re f"]))
    open("corrupt.pdf", "wb").write(b"%PDF-1.4\n" + bytes((i * 73 + 41) % 256 for i in range(600)))

    # Revision 2 standard security handler (PDF 1.7 spec, 7.6.3.3 algorithms 2-4).
    user, owner, perms, file_id = b"secret", b"owner", -4, hashlib.md5(b"kbdocs").digest()
    o = rc4(hashlib.md5((owner + PAD)[:32]).digest()[:5], (user + PAD)[:32])
    key = hashlib.md5((user + PAD)[:32] + o + perms.to_bytes(4, "little", signed=True) + file_id).digest()[:5]
    u = rc4(key, PAD)
    enc = b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (o.hex().encode(), u.hex().encode(), perms)
    # The Encrypt dictionary is object 6, named in the trailer with the file ID it was keyed on.
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        stream(text_page([b"Hidden text."])),
        enc,
    ]
    open("encrypted.pdf", "wb").write(
        pdf(objs, b"/Encrypt 6 0 R /ID [<%s> <%s>] " % (file_id.hex().encode(), file_id.hex().encode())))


if __name__ == "__main__":
    main()
