"""Pinned dependencies stay at or above the first release that fixed each known advisory:
python-engineio 4.13.3 (a denial of service through binary attachments), python-socketio 5.16.2
(the same, and 5.14.0 stopped unpickling message-queue payloads), eventlet 0.40.3 (HTTP request
smuggling)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# package -> the first version without the advisory
ADVISORY_FLOORS = {
    "python-engineio": (4, 13, 3),  # binary attachment DoS
    "python-socketio": (5, 16, 2),  # pickle in the message queue, binary attachment DoS
    "eventlet": (0, 40, 3),  # HTTP request smuggling
}


def pinned_versions(path: Path) -> dict[str, tuple[int, ...]]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            name = name.split("[")[0].strip().lower()
            pins[name] = tuple(int(part) for part in version.strip().split(".")[:3])
    return pins


def test_every_runtime_requirement_is_pinned_exactly():
    lines = [
        line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    assert all("==" in line for line in lines if line), "pin every version with =="


def test_pins_are_above_known_advisories():
    pins = pinned_versions(ROOT / "requirements.txt")
    for package, floor in ADVISORY_FLOORS.items():
        assert pins[package] >= floor, f"{package} {pins[package]} is below {floor}"


def test_the_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for package, pinned in pinned_versions(ROOT / "requirements.txt").items():
        installed = tuple(int(p) for p in version(package).split(".")[:3])
        assert installed == pinned, f"{package}: installed {installed}, pinned {pinned}"
