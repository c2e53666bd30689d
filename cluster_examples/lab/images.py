"""The lab's test images, built from Debian's busybox-static and pushed to the lab registry.

No image registry outside the lab is contacted: every image is `FROM scratch` plus a root
filesystem made here of /bin/busybox and a symlink per applet.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cluster_examples.lab.sh import LabError, run

IMAGES_DIR = Path(__file__).parent / "images"
BUSYBOX = Path("/bin/busybox")

# tag -> (context directory, build args)
IMAGES: dict[str, tuple[str, dict[str, str]]] = {
    "web:1": ("web", {"VERSION": "v1"}),
    "web:2": ("web", {"VERSION": "v2"}),
    "web:bad": ("web-bad", {}),
    "tools": ("tools", {}),
}


def docker(sock: Path) -> list[str]:
    return ["docker", "-H", f"unix://{sock}"]


def make_rootfs(target: Path) -> None:
    if not BUSYBOX.exists():
        raise LabError(f"{BUSYBOX} not found; install busybox-static (scripts/setup does)")
    bin_dir = target / "bin"
    bin_dir.mkdir(parents=True)
    for d in ("tmp", "www", "etc", "root"):
        (target / d).mkdir()
    (target / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, bin_dir / "busybox")
    for applet in run([BUSYBOX, "--list"]).split():
        if applet != "busybox" and "/" not in applet:
            (bin_dir / applet).symlink_to("busybox")
    (target / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (target / "etc" / "group").write_text("root:x:0:\n")


def build_and_push(sock: Path, registry: str) -> list[str]:
    """Build every test image on the engine behind `sock`, push it, and drop the local copies
    so that every node, this one included, pulls from the registry like any image."""
    pushed = []
    with tempfile.TemporaryDirectory(prefix="shoal-lab-images-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        make_rootfs(rootfs)
        for tag, (context_name, args) in IMAGES.items():
            context = Path(tmp) / tag.replace(":", "_")
            shutil.copytree(IMAGES_DIR / context_name, context)
            shutil.copytree(rootfs, context / "rootfs", symlinks=True)
            name = f"{registry}/{tag}"
            build_args = [a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")]
            # The classic builder: Debian's docker.io ships no buildx, and scratch images need none.
            build: list[str | Path] = [
                *docker(sock),
                "build",
                "-q",
                "-t",
                name,
                *build_args,
                context,
            ]
            run(build, env={"DOCKER_BUILDKIT": "0"})
            run([*docker(sock), "push", "-q", name])
            pushed.append(name)
    run([*docker(sock), "image", "rm", *pushed])
    return pushed
