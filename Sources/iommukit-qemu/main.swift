import QEMUFrontend

QEMUCompatibleEntry.main()
