// The QTestServer module. See ARCHITECTURE.md for what belongs here.
