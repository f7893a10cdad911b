/* The version of t9kfs, as 't9kfs version' and the CSI driver's
 * GetPluginInfo report it. A release build may set it: -DT9KFS_VERSION=... */
#ifndef T9K_VERSION_H
#define T9K_VERSION_H

#ifndef T9KFS_VERSION
#define T9KFS_VERSION "0.1.0-dev"
#endif

#endif
