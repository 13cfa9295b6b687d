// The Scenarios module. See ARCHITECTURE.md for what belongs here.
