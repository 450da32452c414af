"""Arguments and entry point of ``gf download``: a file (http(s)://, file://, hf://, Google Drive) into the
cache, a zoo entry (zoo:<name>) into its cache place, or a data bundle (data:star) into the data root."""
from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url")
    parser.add_argument("--sha256", help="expected hash; a mismatch is an error and nothing is kept")
    parser.add_argument("--dest", help="destination file or folder (default: the gf cache, $GF_CACHE_DIR)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true",
                        help="with --dest: replace an existing file (otherwise it is verified against --sha256 or refused); "
                             "with data:<name>: replace files at the bundle's paths that gf did not install or that "
                             "changed since (other files in the folder are never touched)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S",
                        help="seconds per connect or read, > 0 and at most 86400 (default 30)")
    parser.add_argument("--retries", type=int, default=3, metavar="N",
                        help="attempts in all, 1 (no retry) to 100 (default 3); a transfer cut short resumes its .part file")
    parser.add_argument("--backoff", type=float, default=1.0, metavar="S",
                        help="seconds before the second retry, doubled each time, 0 to 60 (default 1)")
    parser.add_argument("--url", dest="mirror", metavar="URL",
                        help="with data:<name>: fetch the bundle from this mirror (verified against the same sha256; "
                             "default $GF_DATA_URL_<NAME>, else the entry's URL)")
    parser.add_argument("--data-root", help="with data:<name>: folder that holds the datasets (default $DATA_ROOT, "
                                            "else gf_data)")
    parser.add_argument("--plugins", nargs="+", action="extend", default=[], metavar="MODULE",
                        help="import these modules first, so a data bundle or zoo entry they register can be "
                             "downloaded (as gf list --plugins lists it)")


def run(args) -> int:
    from gf.common.download import check_transfer_options, download_with_sha256
    from gf.common.io import sha256sum
    from gf.common.errors import ConfigError

    # Checked before anything else, so a refused command creates no folder, part or lock file.
    transfer = dict(timeout=args.timeout, retries=args.retries, backoff=args.backoff)
    check_transfer_options(**transfer, names=("--timeout", "--retries", "--backoff"), where="")
    from gf.common.config import load_plugins

    load_plugins(args.plugins, "--plugins")  # a plugin's register_data / zoo entries
    if args.url.startswith("data:"):
        if args.sha256 or args.dest:
            raise ConfigError("a data bundle pins its own hash and extracts into the data root; drop --sha256/--dest "
                              "(use --data-root, and --url for a mirror)")
        from gf.datasets.data_entries import get_data
        from gf.datasets.data_zoo import download_data

        target = download_data(args.url, args.data_root, url=args.mirror, overwrite=args.overwrite,
                               progress=not args.quiet, **transfer)
        print(f"{target}\nsha256 {get_data(args.url).sha256}")
        return 0
    if args.mirror or args.data_root:
        raise ConfigError("--url and --data-root go with data:<name> only")
    if args.url.startswith(("model:", "zoo:")):
        if args.sha256 or args.dest or args.overwrite:
            raise ConfigError("a zoo entry pins its own hash and cache place; drop --sha256/--dest/--overwrite")
        from gf.models import zoo

        name = args.url.split(":", 1)[1]
        path = zoo.download_pretrained(name, progress=not args.quiet, **transfer)
        digest = zoo.get_pretrained(name).sha256  # verified against, or recorded from, this very file
    else:
        path, digest = download_with_sha256(args.url, sha256=args.sha256, dest=args.dest, progress=not args.quiet,
                                            overwrite=args.overwrite, **transfer)
    print(f"{path}\nsha256 {digest or sha256sum(path)}")
    return 0
