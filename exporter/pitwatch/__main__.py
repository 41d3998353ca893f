from pitwatch.cli import main

raise SystemExit(main())
