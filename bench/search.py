#!/usr/bin/env python3
"""The search benchmark's corpus and client (python3 only).

A deterministic corpus of mixed Russian/English mail: words drawn from a vocabulary with a
Zipf distribution (real words first, generated ones in the long tail, so that common and rare
words both exist), every word used in its inflected forms (Russian nouns in their cases,
adjectives, verbs; English plurals and tenses), so that a search for one form must find the
others to find the letter; `ё` written as `е` in some letters. Bodies are text/plain (UTF-8
8bit or quoted-printable, KOI8-R, windows-1251 base64), text/html (markup, entities; alone or
in multipart/alternative) and, in some letters, a text attachment with a Cyrillic file name;
subjects and display names are RFC 2047 encoded.

Usage:
  search.py fill HOST PORT USER PASSWORD N    MULTIAPPEND into INBOX (bench/bigmailbox.py)
  search.py fill-maildir DIR N                the same messages as maildir files
  search.py sample FILE I                     message I of the corpus (for smtp-source -F)
  search.py size N                            total bytes of the first N messages
  search.py measure HOST PORT USER PASSWORD LABEL   time the queries (median of 3), JSON out
  search.py compare A.json B.json ...         side-by-side table
  search.py markdown A.json B.json ...        the same as a Markdown table with ratios
  search.py idle PID                          seconds until PID's CPU use stays < 5 % for 1 s

The queries (QUERIES) are sent as `UID SEARCH CHARSET UTF-8 …` with literals.
"""

import json
import os
import quopri
import random
import statistics
import sys
import time
from base64 import b64encode
from email.header import Header

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bigmailbox  # noqa: E402  (Raw connection, MULTIAPPEND and maildir fill)

# Timed runs per query (median); REPEAT=1 for the slow scans at 100,000 letters.
REPEAT = int(os.environ.get("REPEAT", "3"))

# --- vocabulary ---------------------------------------------------------------------------

# Russian endings by paradigm (a stem + one of these is a word form).
RU_PARADIGMS = {
    # masculine hard noun: договор
    "m": ["", "а", "у", "ом", "е", "ы", "ов", "ам", "ами", "ах"],
    # feminine -а: встреча (stem встреч)
    "f": ["а", "и", "е", "у", "ой", "ами", "ах", "ам"],
    # neuter -о: письмо (stem письм) — genitive plural "писем" is irregular, added below
    "n": ["о", "а", "у", "ом", "е", "ами", "ах", "ам"],
    # adjective: нов
    "a": ["ый", "ая", "ое", "ые", "ого", "ой", "ых", "ым", "ую", "ыми"],
    # verb (1st conjugation, -ать): отправля
    "v": ["ть", "ю", "ет", "ем", "ют", "л", "ла", "ли", "ешь", "ете"],
}

RU_WORDS = [
    ("письм", "n"), ("отчёт", "m"), ("договор", "m"), ("встреч", "f"), ("проект", "m"),
    ("заказ", "m"), ("счёт", "m"), ("клиент", "m"), ("поставк", "f"), ("сотрудник", "m"),
    ("задач", "f"), ("вопрос", "m"), ("документ", "m"), ("работ", "f"), ("недел", "f"),
    ("компани", "f"), ("оплат", "f"), ("цен", "f"), ("товар", "m"), ("склад", "m"),
    ("квартал", "m"), ("бюджет", "m"), ("сервер", "m"), ("почт", "f"), ("ошибк", "f"),
    ("доступ", "m"), ("пароль", "m"), ("файл", "m"), ("партнёр", "m"), ("директор", "m"),
    ("отдел", "m"), ("план", "m"), ("результат", "m"), ("дел", "n"), ("мест", "n"),
    ("нов", "a"), ("важн", "a"), ("срочн", "a"), ("последн", "a"), ("годов", "a"),
    ("отправля", "v"), ("получа", "v"), ("проверя", "v"), ("обсужда", "v"), ("подписыва", "v"),
    ("ёлк", "f"), ("самолёт", "m"), ("учёт", "m"), ("приём", "m"), ("объём", "m"),
]
RU_FUNCTION = ["и", "в", "на", "не", "что", "с", "по", "для", "это", "как", "мы", "вы",
               "к", "о", "от", "до", "все", "уже", "еще", "также", "пожалуйста", "спасибо"]

# English lemmas with their forms.
EN_WORDS = [
    ["report", "reports", "reported", "reporting"], ["meeting", "meetings"],
    ["invoice", "invoices", "invoiced"], ["deliver", "delivered", "delivery", "deliveries"],
    ["contract", "contracts"], ["project", "projects"], ["order", "orders", "ordered"],
    ["payment", "payments", "paid"], ["customer", "customers"], ["server", "servers"],
    ["schedule", "schedules", "scheduled"], ["budget", "budgets"], ["review", "reviewed",
    "reviews", "reviewing"], ["sign", "signed", "signing"], ["quarter", "quarters", "quarterly"],
    ["password", "passwords"], ["account", "accounts"], ["release", "released", "releases"],
    ["team", "teams"], ["price", "prices", "pricing"], ["ship", "shipped", "shipping"],
]
EN_FUNCTION = ["the", "and", "of", "to", "in", "a", "is", "for", "on", "with", "we", "you",
               "please", "thanks", "this", "that", "will", "be", "by", "at"]

RU_SYL = ["ба", "ве", "го", "ду", "жи", "за", "ки", "ло", "ма", "но", "пу", "ра", "се", "то",
          "фу", "ха", "це", "чи", "ша", "ще", "ны", "ли", "ро", "кра", "сто", "при", "вол"]
EN_SYL = ["bra", "cle", "dro", "fen", "gal", "hom", "jix", "kel", "lor", "mun", "nep", "orv",
          "pra", "qui", "ros", "sel", "tav", "urn", "vex", "wil", "yor", "zan"]
RU_CONS = ["р", "н", "т", "к", "л", "в", "д"]

TAIL = 40000  # generated lemmas after the real ones


def _vocabulary():
    """Lemmas in Zipf rank order: each is (language, [forms])."""
    rnd = random.Random(7)
    lemmas = []
    for w in RU_FUNCTION:
        lemmas.append(("ru", [w]))
    for w in EN_FUNCTION:
        lemmas.append(("en", [w]))
    real = []
    for stem, p in RU_WORDS:
        forms = [stem + e for e in RU_PARADIGMS[p]]
        if stem == "письм":
            forms.append("писем")
        real.append(("ru", forms))
    for forms in EN_WORDS:
        real.append(("en", forms))
    rnd.shuffle(real)
    lemmas.extend(real)
    seen = set()
    while len(lemmas) < len(RU_FUNCTION) + len(EN_FUNCTION) + len(real) + TAIL:
        if rnd.random() < 0.6:
            stem = "".join(rnd.choice(RU_SYL) for _ in range(rnd.randint(2, 3))) + rnd.choice(RU_CONS)
            if stem in seen:
                continue
            p = rnd.choice("mfa")
            forms = [stem + e for e in RU_PARADIGMS[p]]
            lang = "ru"
        else:
            stem = "".join(rnd.choice(EN_SYL) for _ in range(rnd.randint(2, 3)))
            if stem in seen:
                continue
            forms = [stem, stem + "s", stem + "ed", stem + "ing"]
            lang = "en"
        seen.add(stem)
        lemmas.append((lang, forms))
    return lemmas


VOCAB = _vocabulary()


def _cum(lang):
    """The lemmas of LANG in rank order with cumulative Zipf weights (by overall rank)."""
    lem, cum, t = [], [], 0.0
    for r, (lg, forms) in enumerate(VOCAB):
        if lg == lang:
            t += 1.0 / (r + 1) ** 1.07
            lem.append(forms)
            cum.append(t)
    return lem, cum


BY_LANG = {"ru": _cum("ru"), "en": _cum("en")}


def rare(lang, rank):
    """The first generated lemma of LANG at or after Zipf rank RANK (a rare word)."""
    for r in range(rank, len(VOCAB)):
        if VOCAB[r][0] == lang:
            return VOCAB[r][1]
    raise SystemExit("no rare word")


RU_RARE = rare("ru", 30000)
EN_RARE = rare("en", 30000)

# (name, search keys after CHARSET UTF-8); the words are literals.
QUERIES = [
    ("TEXT report (en, common)", [("TEXT", "report")]),
    ("BODY invoices (en, form)", [("BODY", "invoices")]),
    ("TEXT письмами (ru, form)", [("TEXT", "письмами")]),
    ("BODY договора (ru, form)", [("BODY", "договора")]),
    ("TEXT отчет (ru, ё/е)", [("TEXT", "отчет")]),
    ("TEXT встреча TEXT проект (ru, two words)", [("TEXT", "встреча"), ("TEXT", "проект")]),
    ("TEXT %s (ru, rare)" % RU_RARE[3], [("TEXT", RU_RARE[3])]),
    ("BODY %s (en, rare)" % EN_RARE[1], [("BODY", EN_RARE[1])]),
    ('TEXT "the report" (en, phrase)', [("TEXT", "the report")]),
    ("BODY щебетальник (ru, no hit)", [("BODY", "щебетальник")]),
]

# --- messages -----------------------------------------------------------------------------

FIRST_RU = ["Иван", "Мария", "Алексей", "Ольга", "Сергей", "Наталья", "Дмитрий", "Елена", "Пётр", "Анна"]
LAST_RU = ["Иванов", "Петрова", "Сидоров", "Смирнова", "Кузнецов", "Попова", "Волков", "Фёдорова"]
FIRST_EN = ["John", "Mary", "Peter", "Alice", "Robert", "Linda", "James", "Susan"]
LAST_EN = ["Smith", "Brown", "Taylor", "Wilson", "Clark", "Walker", "Young", "King"]
MONTHS = bigmailbox.MONTHS


def words(rnd, n, lang_bias):
    """N word forms; LANG_BIAS is the share of Russian words."""
    n_ru = sum(1 for _ in range(n) if rnd.random() < lang_bias)
    out = []
    for lang, k in (("ru", n_ru), ("en", n - n_ru)):
        if k:
            lem, cum = BY_LANG[lang]
            out += [rnd.choice(forms) for forms in rnd.choices(lem, cum_weights=cum, k=k)]
    rnd.shuffle(out)
    return out


def paragraph(rnd, lang_bias, no_yo):
    sentences = []
    for _ in range(rnd.randint(2, 6)):
        w = words(rnd, rnd.randint(5, 16), lang_bias)
        s = " ".join(w)
        if no_yo:
            s = s.replace("ё", "е")
        sentences.append(s[:1].upper() + s[1:] + rnd.choice([".", ".", ".", "!", "?"]))
    return " ".join(sentences)


def enc_header(s, charset):
    try:
        s.encode("ascii")
        return s
    except UnicodeEncodeError:
        return Header(s, charset).encode()


def message(i, rnd):
    """(flags, internaldate, bytes) of message I."""
    lang_bias = rnd.choice([0.9, 0.8, 0.5, 0.2, 0.1])
    no_yo = rnd.random() < 0.3
    kind = rnd.random()
    if kind < 0.10:
        charset = "koi8-r"
    elif kind < 0.20:
        charset = "windows-1251"
    else:
        charset = "utf-8"
    paras = [paragraph(rnd, lang_bias, no_yo) for _ in range(rnd.randint(1, 5))]
    subject = " ".join(words(rnd, rnd.randint(2, 6), lang_bias))
    if lang_bias >= 0.5:
        name = "%s %s" % (rnd.choice(FIRST_RU), rnd.choice(LAST_RU))
    else:
        name = "%s %s" % (rnd.choice(FIRST_EN), rnd.choice(LAST_EN))
    day = 1 + (i * 365 // 100000) % 365
    month, dom = min(day // 31, 11), 1 + day % 28
    hh, mm, ss = rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59)
    date = "%d %s 2024 %02d:%02d:%02d +0300" % (dom, MONTHS[month], hh, mm, ss)
    hdr = [
        "From: %s <user%d@bench.test>" % (enc_header(name, charset), rnd.randint(0, 499)),
        "To: me@bench.test",
        "Subject: " + enc_header(subject[:1].upper() + subject[1:], charset),
        "Date: " + date,
        "Message-ID: <s%d@bench.test>" % i,
        "MIME-Version: 1.0",
    ]
    plain = "\r\n\r\n".join(paras) + "\r\n"
    style = rnd.random()
    if charset != "utf-8":
        # KOI8-R / windows-1251 text/plain, 8bit or base64.
        body = plain.encode(charset, "replace")
        if rnd.random() < 0.5:
            hdr += ["Content-Type: text/plain; charset=%s" % charset, "Content-Transfer-Encoding: 8bit"]
        else:
            hdr += ["Content-Type: text/plain; charset=%s" % charset, "Content-Transfer-Encoding: base64"]
            body = b64lines(body)
    elif style < 0.55:
        hdr += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        body = plain.encode()
    elif style < 0.65:
        hdr += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"]
        body = quopri.encodestring(plain.encode()).replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    elif style < 0.80:
        hdr += ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64"]
        body = b64lines(html(paras, rnd).encode())
    else:
        b = "b%d" % i
        parts = [
            ("text/plain; charset=utf-8", "8bit", plain.encode()),
            ("text/html; charset=utf-8", "quoted-printable",
             quopri.encodestring(html(paras, rnd).encode()).replace(b"\n", b"\r\n")),
        ]
        if style > 0.93:
            # A text attachment with a Cyrillic file name (RFC 2231).
            att = paragraph(rnd, lang_bias, no_yo).encode()
            parts.append(("text/plain; charset=utf-8; name*=utf-8''%D0%BE%D1%82%D1%87%D0%B5%D1%82.txt",
                          "base64", b64lines(att)))
        hdr += ["Content-Type: multipart/%s; boundary=\"%s\"" % (
            "mixed" if len(parts) > 2 else "alternative", b)]
        chunks = []
        for ct, cte, data in parts:
            extra = ""
            if "name*=" in ct:
                extra = "\r\nContent-Disposition: attachment; filename*=utf-8''%D0%BE%D1%82%D1%87%D0%B5%D1%82.txt"
            chunks.append(("--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: %s%s\r\n\r\n" % (
                b, ct, cte, extra)).encode() + data + b"\r\n")
        body = b"".join(chunks) + ("--%s--\r\n" % b).encode()
    flags = []
    if rnd.random() < 0.7:
        flags.append("\\Seen")
    internal = "%02d-%s-2024 %02d:%02d:%02d +0300" % (dom, MONTHS[month], hh, mm, ss)
    raw = ("\r\n".join(hdr) + "\r\n\r\n").encode() + body
    return " ".join(flags), internal, raw


def b64lines(data):
    s = b64encode(data)
    return b"\r\n".join(s[k:k + 76] for k in range(0, len(s), 76)) + b"\r\n"


def html(paras, rnd):
    out = ["<html><head><style>p {margin: 0}</style></head><body>"]
    for p in paras:
        ws = p.split(" ")
        if len(ws) > 3 and rnd.random() < 0.5:
            k = rnd.randrange(len(ws))
            ws[k] = "<b>%s</b>" % ws[k]
        out.append("<p>%s&nbsp;&laquo;ok&raquo;</p>" % " ".join(ws))
    out.append("</body></html>")
    return "\r\n".join(out) + "\r\n"


def corpus(n):
    rnd = random.Random(22)
    for i in range(n):
        yield message(i, rnd)


# --- measuring ----------------------------------------------------------------------------

def search_line(keys):
    """The command bytes with LITERAL+ literals for every word."""
    out = b"UID SEARCH CHARSET UTF-8"
    for key, word in keys:
        w = word.encode()
        out += b" %s {%d+}\r\n%s" % (key.encode(), len(w), w)
    return out


def count_hits(c, line):
    """Run LINE, return (seconds, number of UIDs in the SEARCH response)."""
    c.n += 1
    tag = b"b%d" % c.n
    t = time.perf_counter()
    c.s.sendall(tag + b" " + line + b"\r\n")
    hits = 0
    while True:
        l = c.f.readline()
        if not l:
            raise SystemExit("connection closed")
        if l.startswith(b"* SEARCH"):
            hits += len(l.split()) - 2
        if l.startswith(tag + b" "):
            dt = time.perf_counter() - t
            if not l.startswith(tag + b" OK"):
                raise SystemExit("%r failed: %r" % (line[:80], l))
            return dt, hits


def measure(host, port, user, password, label):
    """Times every query (median of REPEAT); a label ending in `-warmup` runs only the first
    query once (the server opens its index or builds its caches; page cache filled)."""
    warmup = label.endswith("-warmup")
    res = {"label": label, "commands": {}, "hits": {}}
    c = bigmailbox.Raw(host, int(port))
    c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
    c.cmd(b"SELECT INBOX")
    for name, keys in QUERIES[:1] if warmup else QUERIES:
        line = search_line(keys)
        times = []
        hits = 0
        for _ in range(1 if warmup else REPEAT):
            dt, hits = count_hits(c, line)
            times.append(dt)
        res["commands"][name] = statistics.median(times)
        res["hits"][name] = hits
        print("%s: %s %.1f ms, %d hits" % (label, name, res["commands"][name] * 1000, hits),
              file=sys.stderr)
    c.cmd(b"LOGOUT")
    print(json.dumps(res, indent=1, ensure_ascii=False))


def compare(paths):
    rs = [json.load(open(p)) for p in paths]
    print("%-44s" % "query (ms, hits)" + "".join("%22s" % r["label"] for r in rs))
    for k in rs[0]["commands"]:
        row = "%-44s" % k
        for r in rs:
            t = r["commands"].get(k)
            h = r["hits"].get(k)
            row += "%22s" % ("-" if t is None else "%.1f ms / %d" % (t * 1000, h))
        print(row)


def markdown(paths):
    """The comparison as a Markdown table, with pochta's speed-up over each other column."""
    rs = [json.load(open(p)) for p in paths]
    base = next((r for r in rs if r["label"] == "pochta"), None)
    others = [r for r in rs if r is not base]
    head = "| query | " + " | ".join(r["label"] for r in rs)
    if base:
        head += " | " + " | ".join("%s / pochta" % r["label"] for r in others)
    print(head + " |")
    print("| --- |" + " ---: |" * (len(rs) + (len(others) if base else 0)))
    for k in rs[0]["commands"]:
        row = "| `%s` |" % k
        for r in rs:
            t = r["commands"].get(k)
            row += " %s |" % ("—" if t is None else "{:,.1f} ms / {}".format(t * 1000, r["hits"][k]))
        if base:
            for r in others:
                a, b = r["commands"].get(k), base["commands"].get(k)
                row += " %s |" % ("—" if not a or not b else "{:,.0f}×".format(a / b))
        print(row)


def idle(pid):
    """Seconds until process PID uses less than 5 % of a core over one second."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu():
        with open("/proc/%s/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / tick

    t0 = time.monotonic()
    while time.monotonic() - t0 < 600:
        a = cpu()
        time.sleep(1)
        if cpu() - a < 0.05:
            break
    print("server busy %.1f s after the last message" % max(0.0, time.monotonic() - t0 - 1))


def main():
    cmd = sys.argv[1]
    if cmd == "fill":
        bigmailbox.messages = corpus
        bigmailbox.fill(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif cmd == "fill-maildir":
        bigmailbox.messages = corpus
        bigmailbox.fill_maildir(sys.argv[2], int(sys.argv[3]))
    elif cmd == "sample":
        for i, (_, _, raw) in enumerate(corpus(int(sys.argv[3]) + 1)):
            if i == int(sys.argv[3]):
                # smtp-source -F appends CRLF to each line itself: write LF lines.
                with open(sys.argv[2], "wb") as f:
                    f.write(raw.replace(b"\r\n", b"\n"))
    elif cmd == "size":
        print(sum(len(raw) for _, _, raw in corpus(int(sys.argv[2]))))
    elif cmd == "measure":
        measure(*sys.argv[2:7])
    elif cmd == "markdown":
        markdown(sys.argv[2:])
    elif cmd == "idle":
        idle(sys.argv[2])
    elif cmd == "compare":
        compare(sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
