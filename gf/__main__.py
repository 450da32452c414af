from gf.cli import main

raise SystemExit(main())
