// sdk/t9kfs.h from C++: the header compiles, the library links, and a
// failing call reports its code and message (make sdk-check runs it).
#include "t9kfs.h"

#include <cstdio>
#include <cstring>

int main()
{
	t9kfs_client *c = nullptr;
	int rc;

	if (t9kfs_api_version() != T9KFS_API_VERSION || !std::strlen(t9kfs_version()))
		return std::puts("sdk_cxx: wrong API version"), 1;
	// nothing listens on port 9: refused, with a message naming it
	rc = t9kfs_connect("http://127.0.0.1:9", "x", "timeout=2", &c);
	if (rc >= 0 || c || !std::strstr(t9kfs_errmsg(), "127.0.0.1:9"))
		return std::printf("sdk_cxx: connect gave %d: %s\n", rc, t9kfs_errmsg()), 1;
	rc = t9kfs_connect(nullptr, nullptr, "bogus=1", &c);
	if (rc != T9KFS_EUSAGE || !std::strstr(t9kfs_errmsg(), "bogus"))
		return std::printf("sdk_cxx: bad option gave %d: %s\n", rc, t9kfs_errmsg()), 1;
	t9kfs_client_free(nullptr);
	std::printf("sdk_cxx: t9kfs %s, API %d\n", t9kfs_version(), t9kfs_api_version());
	return 0;
}
