// The QTestProtocol module. See ARCHITECTURE.md for what belongs here.
