"""Pure data: EdgeApp, EdgeHost, Zone and AppPackage specs, conditions and ids. No I/O."""
