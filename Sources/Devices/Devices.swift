// The Devices module. See ARCHITECTURE.md for what belongs here.
