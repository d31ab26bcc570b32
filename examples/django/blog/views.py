from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .forms import PostForm
from .models import Author, Post

# How many posts the list shows, newest first.
LIST_SIZE = 50


@require_GET
def post_list(request):
    """Reads: through the proxy these may go to a replica."""
    posts = Post.objects.select_related("author")[:LIST_SIZE]
    return render(request, "blog/post_list.html", {"posts": posts, "form": PostForm()})


@require_POST
def post_create(request):
    """Writes, in one transaction (the proxy sends a transaction to the primary), then redirects
    to the list: the browser's next request is a read that must see this post."""
    form = PostForm(request.POST)
    if not form.is_valid():
        posts = Post.objects.select_related("author")[:LIST_SIZE]
        return render(request, "blog/post_list.html", {"posts": posts, "form": form}, status=400)
    with transaction.atomic():
        author, _ = Author.objects.get_or_create(name=form.cleaned_data["author"])
        Post.objects.create(author=author, title=form.cleaned_data["title"], body=form.cleaned_data["body"])
    return redirect("post_list")
