from buildcache.main import main

raise SystemExit(main())
