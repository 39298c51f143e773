/* version.h - the version of this build. The Makefile passes the git commit. */
#ifndef SG_VERSION_H
#define SG_VERSION_H

#define STREAMGUARD_VERSION "0.1.0"

#ifndef STREAMGUARD_COMMIT
#define STREAMGUARD_COMMIT "unknown"
#endif

#endif
