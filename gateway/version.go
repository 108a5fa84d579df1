package gateway

// Version is the gateway's version, stamped at build time with
//
//	-ldflags "-X github.com/lintel-access/lintel/gateway.Version=v1.2.3"
//
// Builds without the flag report "dev".
var Version = "dev"
