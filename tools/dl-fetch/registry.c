#include "registry.h"

#include <string.h>

/* Fashion-MNIST (Zalando Research), https://github.com/zalandoresearch/fashion-mnist.
 * md5 and sizes are upstream's for its .gz files.  Debian's dataset-fashion-mnist
 * recompressed them (no file name in the gzip header), so its .gz bytes differ;
 * the sha256 of the IDX content is the same and decides. */
static const char *const fashion_mnist_urls[] = {
	"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
	NULL,
};

static const fetch_file fashion_mnist_files[] = {
	{ "train-images-idx3-ubyte.gz", NULL, 1, 26421880, 47040016,
	  "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
	  "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888" },
	{ "train-labels-idx1-ubyte.gz", NULL, 1, 29515, 60008,
	  "25c81989df183df01b3e8a0aad5dffbe",
	  "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9" },
	{ "t10k-images-idx3-ubyte.gz", NULL, 1, 4422102, 7840016,
	  "bef4ecab320f06d8554ea6380940ec79",
	  "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b" },
	{ "t10k-labels-idx1-ubyte.gz", NULL, 1, 5148, 10008,
	  "bb300cfdad3c16e7a12a480ee83cd310",
	  "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34" },
};

static const fetch_dataset registry[] = {
	{ "fashion-mnist",
	  "Zalando Fashion-MNIST: 70,000 28x28 grey clothing images, 10 classes (IDX, 4 files, 30 MB)",
	  fashion_mnist_urls,
	  "/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist",
	  fashion_mnist_files, sizeof fashion_mnist_files / sizeof fashion_mnist_files[0] },
};

const fetch_dataset *fetch_registry(size_t *n)
{
	*n = sizeof registry / sizeof registry[0];
	return registry;
}

const fetch_dataset *fetch_find(const char *name)
{
	size_t n;
	const fetch_dataset *r = fetch_registry(&n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(r[i].name, name))
			return &r[i];
	return NULL;
}
