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
	  "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", DL_UNPACK_NONE },
	{ "train-labels-idx1-ubyte.gz", NULL, 1, 29515, 60008,
	  "25c81989df183df01b3e8a0aad5dffbe",
	  "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", DL_UNPACK_NONE },
	{ "t10k-images-idx3-ubyte.gz", NULL, 1, 4422102, 7840016,
	  "bef4ecab320f06d8554ea6380940ec79",
	  "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", DL_UNPACK_NONE },
	{ "t10k-labels-idx1-ubyte.gz", NULL, 1, 5148, 10008,
	  "bb300cfdad3c16e7a12a480ee83cd310",
	  "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", DL_UNPACK_NONE },
};

/* MNIST (LeCun, Cortes, Burges).  yann.lecun.com now refuses most
 * clients, so PyTorch's S3 copy comes first.  md5 and .gz sizes as published
 * (the sizes on the MNIST page, the md5s as torchvision checks them); the
 * content sizes follow from the IDX headers.  No sha256 is published. */
static const char *const mnist_urls[] = {
	"https://ossci-datasets.s3.amazonaws.com/mnist/",
	"http://yann.lecun.com/exdb/mnist/",
	NULL,
};

static const fetch_file mnist_files[] = {
	{ "train-images-idx3-ubyte.gz", NULL, 1, 9912422, 47040016,
	  "f68b3c2dcbeaaa9fbdd348bbdeb94873", NULL, DL_UNPACK_NONE },
	{ "train-labels-idx1-ubyte.gz", NULL, 1, 28881, 60008,
	  "d53e105ee54ea40749a09fcbcd1e9432", NULL, DL_UNPACK_NONE },
	{ "t10k-images-idx3-ubyte.gz", NULL, 1, 1648877, 7840016,
	  "9fb629c4189551a2d022fa330f9573f3", NULL, DL_UNPACK_NONE },
	{ "t10k-labels-idx1-ubyte.gz", NULL, 1, 4542, 10008,
	  "ec29112dd5afa0611ce80d1b7f02629c", NULL, DL_UNPACK_NONE },
};

/* CIFAR-10 and CIFAR-100 (Krizhevsky), binary versions: sizes and sha256
 * of the .tar.gz as published with the dataset issue. */
static const char *const cifar_urls[] = {
	"https://www.cs.toronto.edu/~kriz/",
	NULL,
};

static const fetch_file cifar10_files[] = {
	{ "cifar-10-binary.tar.gz", NULL, 0, 170052171, -1, NULL,
	  "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", DL_UNPACK_TAR },
};

static const fetch_file cifar100_files[] = {
	{ "cifar-100-binary.tar.gz", NULL, 0, 168513733, -1, NULL,
	  "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec", DL_UNPACK_TAR },
};

/* GTSRB (Stallkamp et al.), the archive at ERDA; md5 as published, sizes not. */
static const char *const gtsrb_urls[] = {
	"https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/",
	NULL,
};

static const fetch_file gtsrb_files[] = {
	{ "GTSRB-Training_fixed.zip", NULL, 0, -1, -1, "513f3c79a4c5141765e10e952eaa2478", NULL, DL_UNPACK_ZIP },
	{ "GTSRB_Final_Test_Images.zip", NULL, 0, -1, -1, "c7e4e6327067d32654124b0fe9e82185", NULL, DL_UNPACK_ZIP },
	{ "GTSRB_Final_Test_GT.zip", NULL, 0, -1, -1, "fe31e9c9270bbcd7b84b7f21a9d9d9e5", NULL, DL_UNPACK_ZIP },
};

/* Tiny ImageNet (Stanford CS231n); md5 as published, size not. */
static const char *const tiny_imagenet_urls[] = {
	"http://cs231n.stanford.edu/",
	NULL,
};

static const fetch_file tiny_imagenet_files[] = {
	{ "tiny-imagenet-200.zip", NULL, 0, -1, -1, "90528d7ca1a48142e341f4ef8d21d0de", NULL, DL_UNPACK_ZIP },
};

#define FILES(a) a, sizeof a / sizeof a[0]

static const fetch_dataset registry[] = {
	{ "mnist",
	  "LeCun MNIST: 70,000 28x28 grey handwritten digits, 10 classes (IDX, 4 files, 11 MB)",
	  mnist_urls, NULL, NULL, FILES(mnist_files) },
	{ "fashion-mnist",
	  "Zalando Fashion-MNIST: 70,000 28x28 grey clothing images, 10 classes (IDX, 4 files, 30 MB)",
	  fashion_mnist_urls,
	  "/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist",
	  FILES(fashion_mnist_files) },
	{ "cifar-10",
	  "CIFAR-10: 60,000 32x32 colour images, 10 classes (binary version, tar.gz, 170 MB, unpacked)",
	  cifar_urls, NULL, NULL, FILES(cifar10_files) },
	{ "cifar-100",
	  "CIFAR-100: 60,000 32x32 colour images, 100 classes (binary version, tar.gz, 169 MB, unpacked)",
	  cifar_urls, NULL, NULL, FILES(cifar100_files) },
	{ "gtsrb",
	  "German Traffic Sign Recognition Benchmark: 51,839 PPM images, 43 classes (3 zips, size unknown, unpacked)",
	  gtsrb_urls, NULL, NULL, FILES(gtsrb_files) },
	{ "tiny-imagenet",
	  "Tiny ImageNet: 120,000 64x64 colour JPEGs, 200 classes (zip, size unknown, unpacked)",
	  tiny_imagenet_urls, NULL, NULL, FILES(tiny_imagenet_files) },
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
