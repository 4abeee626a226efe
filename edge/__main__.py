from edge.commands import main

raise SystemExit(main())
