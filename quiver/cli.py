"""The `quiver` command: `quiver standalone`, one role (coordinator, datanode, indexnode, ingestnode,
proxy), or a tool (import, api-key, index-folder)."""

from __future__ import annotations

import importlib
import importlib.util
import sys

COMMANDS = {
    "standalone": ("quiver.standalone", "start every role and its own Redis on this machine"),
    "coordinator": ("coordinator.__main__", "cluster metadata in Redis"),
    "datanode": ("datanode.__main__", "stores segments and runs searches"),
    "indexnode": ("indexnode.__main__", "builds indexes"),
    "ingestnode": ("ingestnode.__main__", "managed document indexes: files, syncs, retrieval"),
    "proxy": ("proxy.__main__", "serves the REST APIs"),
    "import": ("quiver.importer", "loads vectors from a .npy, .fvecs, .arrow or .parquet file"),
    "api-key": ("managed.api_keys", "issues an API key (quiver api-key create --user root)"),
    "index-folder": ("managed.index_folder", "uploads a folder of documents into a managed index"),
}


def usage() -> str:
    lines = ["usage: quiver COMMAND [flags]   (quiver COMMAND --help for its flags)", ""]
    lines += [f"  {name:<12} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        print(usage(), file=sys.stderr)
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    if importlib.util.find_spec("faiss") is None:
        sys.exit("faiss is not installed: pip install 'quiver-db[cpu]' (or '[gpu]' for GPU builds)")
    module = importlib.import_module(COMMANDS[args[0]][0])
    module.main(args[1:])


if __name__ == "__main__":
    main()
