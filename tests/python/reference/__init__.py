# Independent Python references (torch 1.13 on Debian's /usr/bin/python3) that the C++ code is tested against.
