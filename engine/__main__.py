from engine.app.cli import main

raise SystemExit(main())
