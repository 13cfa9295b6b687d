// The HostIOMMU module. See ARCHITECTURE.md for what belongs here.
