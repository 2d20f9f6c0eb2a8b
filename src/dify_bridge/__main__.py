from dify_bridge.cli import main

raise SystemExit(main())
