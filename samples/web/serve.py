"""Serve the web sample with the headers WebGPU + wasm threads need (COOP/COEP).

    python samples/web/serve.py --models HANDOFF_FOLDER [--port 8000]

/ is this folder, /lib and /wasm come from the installed @mediapipe/tasks-genai package
(`npm install` here first), /models is an `edgekit handoff` folder. Binds to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import functools
import http.server
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "node_modules" / "@mediapipe" / "tasks-genai"


class Handler(http.server.SimpleHTTPRequestHandler):
    models: Path = HERE

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, root in (("/lib/", PACKAGE), ("/wasm/", PACKAGE / "wasm"), ("/models/", self.models)):
            if clean.startswith(prefix):
                target = (root / clean[len(prefix) :]).resolve()
                return str(target) if target.is_relative_to(root.resolve()) else str(root / "__denied__")
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # keep test output readable
        pass


Handler.extensions_map = {
    **Handler.extensions_map,
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    Handler.models = args.models.resolve()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), functools.partial(Handler, directory=str(HERE)))
    print(f"http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
