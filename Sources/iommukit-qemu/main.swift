import QTestServer

QEMUCompatibleEntry.main()
