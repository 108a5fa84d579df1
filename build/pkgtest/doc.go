// Package pkgtest checks the release packages that build/deb makes, the way
// an installer's machine would see them. It holds tests only.
//
// The tests open each .deb with dpkg-deb and read its control and data
// archives: the files it installs with their modes and owners, the unit,
// sysusers, tmpfiles and udev files byte for byte against systemd/, the
// example config, the conffiles list, the maintainer scripts against
// build/nfpm/, and the binary itself (its ELF machine, that it is static, and
// the build settings Go recorded in it: GOARCH, GOARM, CGO_ENABLED=0,
// -trimpath and the stamped version). The tarballs get the same checks for the
// files they carry.
//
// The lifecycle test then installs the amd64 package for real into a
// temporary root with `dpkg --root --force-script-chrootless`, so the
// maintainer scripts run on this machine with DPKG_ROOT set and act on that
// root only: systemd-sysusers, systemd-tmpfiles and `systemctl --root` do
// their real work there, while the calls that would reach a running systemd
// (daemon-reload, try-restart, stop) and udevadm go to stubs that record
// them. It walks install, upgrade under a running manager, remove, install of
// a masked unit and purge, and checks the user, the data directory, the
// config's mode and the enablement after each.
//
// The packages come from $LINTEL_PACKAGES when set (a directory holding
// build/deb's output, such as build/out; a relative path is taken from the
// repository root); otherwise the tests run build/deb
// themselves into a temporary directory, which takes minutes. The tests need
// dpkg-deb and, for the lifecycle, dpkg, systemd-sysusers, systemd-tmpfiles,
// systemctl and root; a missing one fails the test. -short skips them all.
package pkgtest
