"""Settings of the web app (`vot serve` flags map onto these fields), and which Host names it answers."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
LOCAL_HOST_NAMES = ("localhost", "127.0.0.1", "::1")  # what a browser on this machine puts in Host
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # bind addresses meaning "every interface"


@dataclass
class WebConfig:
    """Where the app reads and writes, and its limits.

    media_dir: videos a user may pick; uploads are stored in its `uploads/` folder.
    state_dir: chat threads, LangGraph checkpoints and drawn pictures (SQLite + PNG files).
    runs_dir: where `vot eval --out` folders are looked for (searched `max_run_depth` levels deep).
    allowed_hosts: names besides this machine's and the bound host under which the app is reached
    (a proxy's or the machine's DNS name); any other Host header is refused (see `host_allowed`).
    """

    media_dir: Path = Path("media")
    state_dir: Path | None = None  # default: media_dir / ".vot-web" (one folder to back up or delete)
    runs_dir: Path = Path("runs")
    lm: str | None = None  # a `vot ask --lm` spec; None = $VOT_LLM or the embedded SmolLM2
    host: str = "127.0.0.1"  # loopback: the app reads local files and runs models; expose it on purpose only
    port: int = 7860  # Gradio's default, so people find it where they expect a model demo
    max_upload_bytes: int = 512 * 2**20  # 512 MiB: an hour of 720p h264, well under the disk of a laptop
    num_frames: int | None = None  # frames handed to the tracker (None = VoTSettings' default)
    long_video_seconds: float = 120.0  # longer videos are indexed once (Session) and questions retrieve segments
    max_retries: int = 2  # verification loops, as `vot ask`
    max_run_depth: int = 3  # runs_dir/<suite>/<run>/run.json is found; deeper trees are not walked
    frames_shown: int = 4  # "frames that matter" drawn per answer
    allowed_hosts: tuple[str, ...] = ()  # none: a page that reached us under a name of its own is DNS rebinding

    def __post_init__(self):
        self.media_dir = Path(self.media_dir).expanduser()
        self.runs_dir = Path(self.runs_dir).expanduser()
        self.state_dir = Path(self.state_dir).expanduser() if self.state_dir else self.media_dir / ".vot-web"
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port!r}")
        if self.max_upload_bytes < 1:
            raise ValueError(f"max_upload_bytes must be positive, got {self.max_upload_bytes!r}")
        if self.num_frames is not None and self.num_frames < 2:
            raise ValueError(f"num_frames must be at least 2, got {self.num_frames!r}")
        if self.frames_shown < 1:
            raise ValueError(f"frames_shown must be at least 1, got {self.frames_shown!r}")
        self.allowed_hosts = tuple(str(name).strip().lower().strip("[]") for name in self.allowed_hosts)
        if any(not name or "/" in name or " " in name for name in self.allowed_hosts):
            raise ValueError(f"allowed_hosts must be host names (no scheme, path or spaces), got {self.allowed_hosts!r}")

    def host_allowed(self, name: str) -> bool:
        """Whether a request's Host name (port stripped, lower case, IPv6 without brackets) is
        one of ours: this machine's names, the bound host, `allowed_hosts`, or, when bound to
        every interface, any IP address (a DNS-rebinding page always sends its own domain name;
        an address in Host means the user typed it)."""
        name = name.lower()
        if name in LOCAL_HOST_NAMES or name in self.allowed_hosts or name == self.host.lower().strip("[]"):
            return True
        if self.host in WILDCARD_HOSTS:
            try:
                ipaddress.ip_address(name)
                return True
            except ValueError:
                return False
        return False

    @property
    def loopback(self) -> bool:
        """Whether the host only accepts connections from this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
