
	Team roomØ"meta